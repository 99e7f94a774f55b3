"""REST event streams: SSE at /events/stream, NDJSON export at /events (placeholder)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
