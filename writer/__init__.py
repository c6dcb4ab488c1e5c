"""The write side: raw requests (from the write-ahead log, the queue or Kafka) → ClickHouse."""
