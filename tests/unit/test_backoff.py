"""The write side's one back-off: doubling delays, capped, reset after a success."""

from __future__ import annotations

import pytest

from prela.writer.backoff import Backoff


def test_delays_double_up_to_the_cap_and_start_over_after_a_reset() -> None:
    backoff = Backoff(0.1, 0.5)
    assert [backoff.next() for _ in range(5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    backoff.reset()
    assert backoff.next() == 0.1


def test_a_cap_below_the_first_delay_caps_it_too() -> None:
    assert Backoff(0.2, 0.05).next() == 0.05


def test_a_delay_that_is_not_positive_is_refused_with_both_values() -> None:
    with pytest.raises(ValueError, match="first_s=0 max_s=1"):
        Backoff(0, 1)
