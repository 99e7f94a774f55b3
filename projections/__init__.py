"""Read models: bitemporal tables, the projector that fills them, the runner, read queries.

Import the modules themselves (`projections.runner`, `projections.queries`): this package
imports nothing, so the read queries load without the projector and the domain's aggregates.
"""
