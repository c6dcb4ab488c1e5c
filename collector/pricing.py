"""Cost in USD of one model call, from the model name and its token counts.

Prices live in `model_prices.json` (USD per 1M tokens, list prices). A model is found by its exact
name or by the longest table key that prefixes it at a separator, after dropping a provider prefix
(`openai/gpt-4o`, `models/gemini-2.0-flash`, Bedrock's `us.anthropic.claude-...`), so dated
snapshots (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`) take their family's price.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import NamedTuple

from prela.model.span import COST_DECIMALS

_PER_TOKEN = 1e-6  # the table is per 1M tokens
_BOUNDARY = frozenset("-@:_")


class ModelPrice(NamedTuple):
    """USD per 1M tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float


def _load_prices() -> dict[str, ModelPrice]:
    raw = json.loads(resources.files(__package__).joinpath("model_prices.json").read_text("utf-8"))
    prices: dict[str, ModelPrice] = {}
    for name, entry in raw.items():
        if name.startswith("_"):
            continue
        inp = float(entry["input"])
        prices[name] = ModelPrice(
            inp,
            float(entry["output"]),
            float(entry.get("cache_read", inp)),
            float(entry.get("cache_write", inp)),
        )
    return prices


PRICES: dict[str, ModelPrice] = _load_prices()
# Longest first, so the first prefix that matches is the most specific family.
_KEYS_BY_LENGTH: tuple[str, ...] = tuple(sorted(PRICES, key=len, reverse=True))


def _normalise(model: str) -> str:
    name = model.strip().lower()
    name = name.rpartition("/")[2]  # openai/gpt-4o, models/gemini-2.0-flash
    if "anthropic." in name:  # Bedrock: anthropic.claude-..., us.anthropic.claude-...
        name = name.partition("anthropic.")[2]
    return name


@lru_cache(maxsize=4096)
def model_price(model: str) -> ModelPrice | None:
    """The price entry for `model`, or None when the model is unknown."""
    name = _normalise(model)
    price = PRICES.get(name)
    if price is not None:
        return price
    for key in _KEYS_BY_LENGTH:
        if name.startswith(key) and len(name) > len(key) and name[len(key)] in _BOUNDARY:
            return PRICES[key]
    return None


def cost_usd(
    model: str,
    input_tokens: int,
    output_tokens: int,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """Cost in USD of one call; 0.0 for an unknown model.

    As in the GenAI and OpenInference conventions, `input_tokens` includes the cache-read and
    cache-write tokens and `output_tokens` includes reasoning tokens: cached tokens are priced at
    their own rate and only the rest of the input at the input rate.
    """
    if not model:
        return 0.0
    price = model_price(model)
    if price is None:
        return 0.0
    cache_read = max(0, cache_read_tokens)
    cache_write = max(0, cache_write_tokens)
    uncached = max(0, input_tokens - cache_read - cache_write)
    total = (
        uncached * price.input
        + cache_read * price.cache_read
        + cache_write * price.cache_write
        + max(0, output_tokens) * price.output
    )
    return round(total * _PER_TOKEN, COST_DECIMALS)
