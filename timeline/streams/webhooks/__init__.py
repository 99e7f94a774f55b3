"""Webhooks: endpoints with a durable cursor (`registry`), Standard Webhooks signatures
(`signing`) and the worker that delivers in order with leases and backoff (`delivery`).

Each endpoint receives the events its filter selects, one at a time in log order, as the
CloudEvents JSON envelope. A 2xx answer advances the endpoint's cursor in the same
transaction that logs it, so a restart resumes after the last acknowledged event. The names
below are the package's interface; callers import them from here.
"""

from timeline.streams.settings import WebhookSettings
from timeline.streams.webhooks.delivery import LeaseLost, WebhookWorker, backoff
from timeline.streams.webhooks.registry import (
    Delivery,
    Endpoint,
    add_endpoint,
    create_tables,
    deliveries,
    endpoints,
    get_endpoint,
    list_deliveries,
    list_endpoints,
    metadata,
    remove_endpoint,
)
from timeline.streams.webhooks.signing import new_secret, signed_request

__all__ = [
    "Delivery",
    "Endpoint",
    "LeaseLost",
    "WebhookSettings",
    "WebhookWorker",
    "add_endpoint",
    "backoff",
    "create_tables",
    "deliveries",
    "endpoints",
    "get_endpoint",
    "list_deliveries",
    "list_endpoints",
    "metadata",
    "new_secret",
    "remove_endpoint",
    "signed_request",
]
