"""Streaming layer: the embedded broker, the Faust app and its topics, thin agents,
dead-letter records and Prometheus metrics."""
