"""Cost in USD from model and token counts."""

from __future__ import annotations

import pytest

from prela.collector.pricing import PRICES, cost_usd, model_price


def test_exact_model_price_per_million_tokens() -> None:
    # gpt-4o: $2.50 in, $10.00 out per 1M tokens.
    assert cost_usd("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(12.5)


def test_dated_snapshot_takes_its_family_price() -> None:
    assert model_price("gpt-4o-2024-08-06") == PRICES["gpt-4o"]
    assert model_price("claude-3-5-sonnet-20241022") == PRICES["claude-3-5-sonnet"]


def test_longest_family_prefix_wins() -> None:
    assert model_price("gpt-4o-mini-2024-07-18") == PRICES["gpt-4o-mini"]
    assert model_price("gpt-4.1-nano") == PRICES["gpt-4.1-nano"]
    assert model_price("claude-sonnet-4-5-20250929") == PRICES["claude-sonnet-4-5"]


def test_prefix_needs_a_separator() -> None:
    assert model_price("gpt-4-0613") == PRICES["gpt-4"]
    assert model_price("gpt-4x") is None


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("openai/gpt-4o", "gpt-4o"),
        ("models/gemini-2.0-flash", "gemini-2.0-flash"),
        ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
        ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet@20240620", "claude-3-5-sonnet"),
        ("GPT-4o", "gpt-4o"),
    ],
)
def test_provider_prefixes_and_case_are_ignored(name: str, family: str) -> None:
    assert model_price(name) == PRICES[family]


def test_unknown_or_empty_model_costs_nothing() -> None:
    assert cost_usd("my-private-model", 1000, 1000) == 0.0
    assert cost_usd("", 1000, 1000) == 0.0


def test_cached_input_tokens_are_priced_at_the_cache_rates() -> None:
    # claude-sonnet-4-5: $3 in, $15 out, $0.30 cache read, $3.75 cache write; input includes cached tokens.
    cost = cost_usd("claude-sonnet-4-5", 1_000_000, 0, cache_read_tokens=600_000, cache_write_tokens=100_000)
    assert cost == pytest.approx(0.3 * 3 + 0.6 * 0.3 + 0.1 * 3.75)


def test_cache_counts_larger_than_input_do_not_go_negative() -> None:
    assert cost_usd("gpt-4o", 100, 0, cache_read_tokens=1_000_000) == pytest.approx(1.25)


def test_model_without_cache_price_uses_input_price() -> None:
    assert cost_usd("gpt-4", 1_000_000, 0, cache_read_tokens=1_000_000) == pytest.approx(30.0)


def test_embedding_model_prices_input_only() -> None:
    assert cost_usd("text-embedding-3-small", 1_000_000, 0) == pytest.approx(0.02)
