"""Exporters: where mapped spans go — the in-process queue, the ClickHouse writer and its schema."""
