"""Events out: everything that carries the log to its consumers, in one room.

The log reader and filters (`reader`), the CloudEvents envelope (`cloudevents`), the one
wake-up source per process (`wakeups`), the fan-out to live subscribers (`fanout`), their
tuning (`settings`) and the webhooks (`webhooks`: registry, signing, delivery).
`timeline.bootstrap` builds and starts them; `api/` only translates HTTP and GraphQL to these
and back (docs/streams.md).
"""
