"""Read models: bitemporal tables, the projector that fills them, the runner, read queries."""

from projections.runner import ProjectionRunner, TrackingConflict, tracked_position
from projections.tables import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "ProjectionRunner", "TrackingConflict", "tracked_position"]
