"""Every setting of the server roles, read once from the environment.

The seed's variable names (SERVICE_NAME, CLICKHOUSE_HOST, KAFKA_BOOTSTRAP_SERVERS,
CORS_ORIGINS …) are kept as they are; Prela's own settings are `PRELA_*`.
CLI flags override the environment through `Settings.with_overrides`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_SECRET_WORDS = ("password", "secret", "token", "api_key")


def _strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"***@{host}{port}").geturl()


class ConfigurationError(ValueError):
    """A role cannot start with this configuration; the message names the setting."""


# What each role cannot start without (Settings fields; an inner tuple: any one of them): checked by
# the roles at start, and deploy/compose.yaml is checked against it (tests/deploy).
_CLICKHOUSE = ("clickhouse_url", "clickhouse_host")
ROLE_REQUIRED: dict[str, tuple[tuple[str, ...], ...]] = {
    "serve": (),
    "collector": (("kafka_bootstrap_servers",),),
    "writer": (("kafka_bootstrap_servers",), _CLICKHOUSE),
    "query": (_CLICKHOUSE,),
    "migrate": (_CLICKHOUSE,),
}


def cores_available() -> int:
    """The cores this process may run on (`taskset`/cgroup cpusets respected): the default worker count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    # The seed's service settings
    service_name: str = Field("prela", validation_alias="SERVICE_NAME")
    environment: str = Field("development", validation_alias="ENVIRONMENT")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", validation_alias="LOG_LEVEL"
    )
    cors_origins: list[str] = Field(default_factory=list, validation_alias="CORS_ORIGINS")

    # ClickHouse: one DSN (CLICKHOUSE_URL) or the seed's parts
    clickhouse_url: str | None = Field(None, validation_alias="CLICKHOUSE_URL")
    clickhouse_host: str | None = Field(None, validation_alias="CLICKHOUSE_HOST")
    clickhouse_port: int = Field(8443, validation_alias="CLICKHOUSE_PORT")
    clickhouse_user: str = Field("default", validation_alias="CLICKHOUSE_USER")
    clickhouse_password: str = Field("", validation_alias="CLICKHOUSE_PASSWORD")
    clickhouse_database: str = Field("prela", validation_alias="CLICKHOUSE_DATABASE")

    # Kafka (scale-out): the seed's variables, plus Prela's tuning
    kafka_bootstrap_servers: str | None = Field(None, validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_username: str | None = Field(None, validation_alias="KAFKA_USERNAME")
    kafka_password: str | None = Field(None, validation_alias="KAFKA_PASSWORD")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = Field(
        None, validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"] = Field(
        "SCRAM-SHA-256", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_topic_spans: str = Field("spans", min_length=1, validation_alias="KAFKA_TOPIC_SPANS")
    kafka_topic_traces: str = Field("traces", min_length=1, validation_alias="KAFKA_TOPIC_TRACES")
    kafka_topic_logs: str = Field("logs", min_length=1, validation_alias="KAFKA_TOPIC_LOGS")
    kafka_topic_metrics: str = Field("metrics", min_length=1, validation_alias="KAFKA_TOPIC_METRICS")
    kafka_topic_dead_letter: str = Field(
        "prela-dead-letter", min_length=1, validation_alias="PRELA_KAFKA_DEAD_LETTER_TOPIC"
    )
    kafka_compression: Literal["gzip", "lz4", "zstd", "none"] = Field(
        "zstd", validation_alias="PRELA_KAFKA_COMPRESSION"
    )
    kafka_linger_ms: int = Field(5, ge=0, validation_alias="PRELA_KAFKA_LINGER_MS")
    kafka_max_batch_bytes: int = Field(1024 * 1024, gt=0, validation_alias="PRELA_KAFKA_MAX_BATCH_BYTES")
    kafka_max_message_bytes: int = Field(
        1024 * 1024, gt=1024, validation_alias="PRELA_KAFKA_MAX_MESSAGE_BYTES"
    )
    kafka_ack_timeout_s: float = Field(10.0, gt=0, validation_alias="PRELA_KAFKA_ACK_TIMEOUT_SECONDS")
    kafka_create_topics: bool = Field(True, validation_alias="PRELA_KAFKA_CREATE_TOPICS")
    writer_group: str = Field("prela-writer", min_length=1, validation_alias="PRELA_WRITER_GROUP")
    # Topics an OTel Collector / rotel Kafka exporter fills with raw OTLP trace requests (otlp_proto), comma list;
    # their spans belong to the default project (messages carrying a prela-project header keep theirs).
    kafka_otlp_topics: str = Field("", validation_alias="PRELA_KAFKA_OTLP_TOPICS")
    kafka_default_project: str | None = Field(None, validation_alias="PRELA_KAFKA_DEFAULT_PROJECT")
    metrics_port: int = Field(9464, ge=0, le=65535, validation_alias="PRELA_METRICS_PORT")

    # Projects, keys and tokens (prela.auth)
    auth_mode: Literal["required", "off"] | None = Field(None, validation_alias="PRELA_AUTH")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    redis_url: str | None = Field(None, validation_alias="REDIS_URL")
    jwt_secret: str | None = Field(None, validation_alias="JWT_SECRET")
    jwks_url: str | None = Field(None, validation_alias="PRELA_JWKS_URL")
    jwt_issuer: str | None = Field(None, validation_alias="PRELA_JWT_ISSUER")
    jwt_audience: str = Field("", validation_alias="PRELA_JWT_AUDIENCE")  # comma list
    jwt_project_claim: str = Field("org_id,o.id", validation_alias="PRELA_JWT_PROJECT_CLAIM")  # comma list
    jwt_algorithms: str = Field("RS256,ES256", validation_alias="PRELA_JWT_ALGORITHMS")  # comma list
    jwt_authorized_parties: str = Field("", validation_alias="PRELA_JWT_AUTHORIZED_PARTIES")  # comma list
    clerk_secret_key: str | None = Field(None, validation_alias="CLERK_SECRET_KEY")
    clerk_publishable_key: str | None = Field(None, validation_alias="CLERK_PUBLISHABLE_KEY")
    key_cache_ttl_s: float = Field(15.0, gt=0, le=15, validation_alias="PRELA_KEY_CACHE_TTL_SECONDS")
    rate_limit_spans_per_second: float = Field(
        0.0, ge=0, validation_alias="PRELA_RATE_LIMIT_SPANS_PER_SECOND"
    )
    rate_limit_burst: int | None = Field(None, gt=0, validation_alias="PRELA_RATE_LIMIT_BURST")

    # Prela's own
    data_dir: Path = Field(Path(".prela"), validation_alias="PRELA_DATA_DIR")
    host: str = Field("127.0.0.1", validation_alias="PRELA_HOST")
    otlp_grpc_port: int = Field(4317, ge=0, le=65535, validation_alias="PRELA_OTLP_GRPC_PORT")
    otlp_http_port: int = Field(4318, ge=0, le=65535, validation_alias="PRELA_OTLP_HTTP_PORT")
    query_port: int = Field(8000, ge=0, le=65535, validation_alias="PRELA_QUERY_PORT")
    max_request_bytes: int = Field(16 * 1024 * 1024, gt=0, validation_alias="PRELA_MAX_REQUEST_BYTES")
    queue_spans: int = Field(50_000, gt=0, validation_alias="PRELA_QUEUE_SPANS")
    queue_bytes: int = Field(256 * 1024**2, gt=0, validation_alias="PRELA_QUEUE_BYTES")
    batch_spans: int = Field(20_000, gt=0, validation_alias="PRELA_BATCH_SPANS")
    batch_linger_ms: float = Field(1000.0, ge=0, validation_alias="PRELA_BATCH_LINGER_MS")
    wal_fsync: bool = Field(False, validation_alias="PRELA_WAL_FSYNC")
    # How much lower than the receivers the writer thread of `serve` runs (Linux nice increment; 0: same):
    # under load the receivers' answers and refusals then wait for no batch being mapped and inserted.
    writer_nice: int = Field(10, ge=0, le=19, validation_alias="PRELA_WRITER_NICE")
    # Who maps OTLP trace requests to spans rows (exporters/otlp_insert.py): the writer's Python, or
    # ClickHouse (a chain of views apply_schema installs only then). Python is cheaper per span today.
    mapping: Literal["python", "engine"] = Field("python", validation_alias="PRELA_MAPPING")
    spool_max_bytes: int = Field(1024**3, gt=0, validation_alias="PRELA_SPOOL_MAX_BYTES")
    ttl_days: int = Field(90, ge=1, validation_alias="PRELA_TTL_DAYS")
    retry_after_seconds: int = Field(1, ge=1, validation_alias="PRELA_RETRY_AFTER_SECONDS")
    # Admission control of the OTLP receivers (collector/admission.py): work in flight bounded, the rest
    # waits briefly or is refused at once with 503 + Retry-After / UNAVAILABLE + RetryInfo.
    admission_max_requests: int = Field(4, gt=0, validation_alias="PRELA_ADMISSION_MAX_REQUESTS")
    admission_max_bytes: int = Field(64 * 1024**2, gt=0, validation_alias="PRELA_ADMISSION_MAX_BYTES")
    admission_max_queue: int = Field(32, ge=0, validation_alias="PRELA_ADMISSION_MAX_QUEUE")
    admission_max_wait_ms: float = Field(1000.0, ge=0, validation_alias="PRELA_ADMISSION_MAX_WAIT_MS")
    # Processes of `prela serve` / `collector` / `writer` (server/workers.py): default one per core.
    workers: int = Field(default_factory=cores_available, ge=1, le=256, validation_alias="PRELA_WORKERS")
    drain_timeout_s: float = Field(30.0, gt=0, validation_alias="PRELA_DRAIN_TIMEOUT_SECONDS")
    project_id: str = Field("default", min_length=1, validation_alias="PRELA_PROJECT_ID")

    @field_validator(
        "database_url", "redis_url", "jwt_secret", "jwks_url", "jwt_issuer", "clerk_secret_key",
        "clerk_publishable_key", "clickhouse_url", "clickhouse_host", "kafka_bootstrap_servers",
        "kafka_username", "kafka_password", "auth_mode", "kafka_security_protocol", "kafka_default_project",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("clickhouse_database")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"must be letters, digits and underscores, got {value!r}")
        return value

    def masked(self) -> dict[str, Any]:
        """The effective settings for the start-up log: secrets replaced, URL credentials removed."""
        shown: dict[str, Any] = {}
        for name, value in self.model_dump().items():
            if value is None or value == "":
                continue
            if any(word in name for word in _SECRET_WORDS):
                value = "***"
            elif isinstance(value, str) and "://" in value:
                value = _strip_credentials(value)
            shown[name] = str(value) if isinstance(value, Path) else value
        return shown

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the CLI flags that were given (None means: not given)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return self.model_validate({**self.model_dump(), **given})

    def require(self, role: str) -> None:
        """Raise ConfigurationError naming every variable `role` needs and was not given."""
        missing = [
            " or ".join(env_name(name) for name in any_of)
            for any_of in ROLE_REQUIRED[role]
            if not any(getattr(self, name) for name in any_of)
        ]
        if missing:
            raise ConfigurationError(f"prela {role} needs {' and '.join(missing)} in the environment")

    def otlp_topics(self) -> list[str]:
        """PRELA_KAFKA_OTLP_TOPICS as a list."""
        return [topic.strip() for topic in self.kafka_otlp_topics.split(",") if topic.strip()]

    def kafka_protocol(self) -> str:
        """KAFKA_SECURITY_PROTOCOL, else SASL_SSL when credentials are set (what Upstash needs), else PLAINTEXT."""
        if self.kafka_security_protocol:
            return self.kafka_security_protocol
        return "SASL_SSL" if self.kafka_username else "PLAINTEXT"

    def clickhouse_dsn(self) -> str:
        """The ClickHouse DSN: CLICKHOUSE_URL, else CLICKHOUSE_HOST/PORT/…, else chDB in the data dir."""
        if self.clickhouse_url:
            return self.clickhouse_url
        if self.clickhouse_host:
            scheme = "https" if self.clickhouse_port in (8443, 443) else "http"
            auth = f"{quote(self.clickhouse_user, safe='')}:{quote(self.clickhouse_password, safe='')}@"
            return (
                f"{scheme}://{auth}{self.clickhouse_host}:{self.clickhouse_port}/{self.clickhouse_database}"
            )
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    def clickhouse_target(self) -> str:
        """The DSN without credentials, for logs and health answers."""
        parts = urlsplit(self.clickhouse_dsn())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{unquote(parts.path)}"


def env_name(field: str) -> str:
    """The environment variable of a Settings field (`kafka_bootstrap_servers` → KAFKA_BOOTSTRAP_SERVERS)."""
    return str(Settings.model_fields[field].validation_alias)
