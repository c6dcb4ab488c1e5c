"""The collector: OTLP and Prela-JSON receivers, OTel → Prela mapping, and the ingest pipeline."""
