"""Prela's own telemetry: Prometheus metrics of every role (imported by collector, exporters, query)."""
