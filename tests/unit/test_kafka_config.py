"""Kafka connection settings built from the seed's variables, as Upstash needs them."""

from __future__ import annotations

import ssl

import pytest

from prela.exporters.kafka import KafkaConfig, encode_messages
from prela.proto.codec import decode_batch
from prela.server.scaleout import kafka_config
from prela.server.settings import ConfigurationError, Settings
from tests.scaleout.test_writer_faults import record


def settings(**env: str) -> Settings:
    return Settings.model_validate(env)


def test_credentials_give_sasl_ssl_with_scram_sha_256() -> None:
    config = kafka_config(
        settings(KAFKA_BOOTSTRAP_SERVERS="x.upstash.io:9092", KAFKA_USERNAME="u", KAFKA_PASSWORD="p")
    )
    options = config.client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("u", "p")
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED


def test_without_credentials_the_connection_is_plaintext() -> None:
    options = kafka_config(settings(KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:9092")).client_options()
    assert options["security_protocol"] == "PLAINTEXT"
    assert "sasl_mechanism" not in options and "ssl_context" not in options


def test_protocol_and_mechanism_are_overridable() -> None:
    config = kafka_config(
        settings(
            KAFKA_BOOTSTRAP_SERVERS="b:9093", KAFKA_USERNAME="u", KAFKA_PASSWORD="p",
            KAFKA_SECURITY_PROTOCOL="SASL_PLAINTEXT", KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        )
    )  # fmt: skip
    options = config.client_options()
    assert (options["security_protocol"], options["sasl_mechanism"]) == ("SASL_PLAINTEXT", "SCRAM-SHA-512")
    assert "ssl_context" not in options


def test_sasl_without_password_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="KAFKA_PASSWORD"):
        kafka_config(settings(KAFKA_BOOTSTRAP_SERVERS="b:9092", KAFKA_SECURITY_PROTOCOL="SASL_SSL"))


def test_missing_bootstrap_servers_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="KAFKA_BOOTSTRAP_SERVERS"):
        kafka_config(settings())


def test_seed_topics_partitions_and_retention() -> None:
    topics = {t.name: t for t in KafkaConfig(bootstrap_servers="b:9092").topics()}
    assert (topics["traces"].num_partitions, topics["spans"].num_partitions) == (3, 6)
    assert topics["spans"].topic_configs["retention.ms"] == str(7 * 24 * 3600 * 1000)


def test_topic_names_come_from_the_seed_variables() -> None:
    config = kafka_config(
        settings(KAFKA_BOOTSTRAP_SERVERS="b:9092", KAFKA_TOPIC_SPANS="s2", KAFKA_TOPIC_TRACES="t2")
    )
    assert (config.topic_spans, config.topic_traces) == ("s2", "t2")


def test_logs_and_metrics_topics_default_to_their_signal_and_are_configurable() -> None:
    defaults = kafka_config(settings(KAFKA_BOOTSTRAP_SERVERS="b:9092"))
    assert (defaults.topic_logs, defaults.topic_metrics) == ("logs", "metrics")
    topics = {t.name: t.num_partitions for t in defaults.topics()}
    assert (topics["logs"], topics["metrics"]) == (3, 3)
    config = kafka_config(
        settings(KAFKA_BOOTSTRAP_SERVERS="b:9092", KAFKA_TOPIC_LOGS="l2", KAFKA_TOPIC_METRICS="m2")
    )
    assert (config.topic_logs, config.topic_metrics) == ("l2", "m2")


def test_messages_are_one_per_trace_keyed_by_trace_id_and_split_when_large() -> None:
    a, b = "a" * 32, "b" * 32
    records = [record(a, 0), record(b, 1), record(a, 2)]
    messages = encode_messages("p", records, max_bytes=1 << 20)
    assert [key for key, _ in messages] == [a.encode(), b.encode()]
    assert [len(decode_batch(value)[1]) for _, value in messages] == [2, 1]

    many = [record(a, i) for i in range(100)]
    small = encode_messages("p", many, max_bytes=2000)
    assert len(small) > 1 and all(len(v) <= 2000 for _, v in small)
    assert sorted(r.span_id for _, v in small for r in decode_batch(v)[1]) == sorted(r.span_id for r in many)


def test_otlp_topics_and_the_default_project_come_from_the_environment_and_the_flags() -> None:
    configured = settings(
        KAFKA_BOOTSTRAP_SERVERS="k:9092",
        PRELA_KAFKA_OTLP_TOPICS="otlp_spans, rotel ,",
        PRELA_KAFKA_DEFAULT_PROJECT="p",
    )
    assert (configured.otlp_topics(), configured.kafka_default_project) == (["otlp_spans", "rotel"], "p")
    assert settings(KAFKA_BOOTSTRAP_SERVERS="k:9092").otlp_topics() == []
    flagged = configured.with_overrides(kafka_otlp_topics="a,b", kafka_default_project="q")
    assert (flagged.otlp_topics(), flagged.kafka_default_project) == (["a", "b"], "q")
