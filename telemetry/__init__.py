"""Prela's own telemetry: Prometheus metrics and the `/health` endpoint of every role (imported by
collector, exporters, query and server)."""
