"""Prela: OpenTelemetry-native tracing for LLM and AI-agent applications.

This package is the light SDK install (`pip install prela`); the server roles
live in `prela.collector`, `prela.exporters`, `prela.query` and `prela.server`
and need the `server` extra.
"""

__version__ = "0.1.0"
