"""The query API the dashboard reads: traces of one project from ClickHouse."""
