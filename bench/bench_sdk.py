"""Per-span overhead of the Prela SDK against the plain OpenTelemetry SDK, measured in one run.

    python bench/bench_sdk.py [--spans 20000] [--rounds 9]

Both providers get the same processor and exporter (SimpleSpanProcessor + an exporter that drops
spans, so the export path is exercised but no I/O is timed). Each round times, interleaved:
- plain:  opentelemetry.sdk.trace.TracerProvider → Tracer.start_as_current_span
- prela:  PrelaTracerProvider → PrelaTracer.start_as_current_span (the target: ≥ 0.95 of plain)
- prela+span_type: the same with `span_type="TOOL"` (one more attribute)
- prela in a session: inside `prela.session(..., user_id=...)` (four more attributes, written by the
  SessionSpanProcessor that prela.init() installs and the prela provider here has too)
- @prela.trace: a decorated function (global Prela provider), for reference
and prints spans/s as the median of the rounds, and prela / plain.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import prela
from prela.provider import PrelaTracer, PrelaTracerProvider
from prela.sessions import SessionSpanProcessor


class DropExporter(SpanExporter):
    """Accepts and drops every span."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def _loop_plain(tracer: trace.Tracer, spans: int) -> None:
    for _ in range(spans):
        with tracer.start_as_current_span("op", attributes={"k": 1}):
            pass


def _loop_prela_span_type(tracer: PrelaTracer, spans: int) -> None:
    for _ in range(spans):
        with tracer.start_as_current_span("op", attributes={"k": 1}, span_type="TOOL"):
            pass


def _in_session(tracer: PrelaTracer, spans: int) -> None:
    with prela.session("bench-session", user_id="bench-user"):
        _loop_plain(tracer, spans)


def _timed(run: Callable[[], None], spans: int) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return spans / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    spans: int = args.spans

    plain_provider = TracerProvider(shutdown_on_exit=False)
    plain_provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
    prela_provider = PrelaTracerProvider(shutdown_on_exit=False)
    prela_provider.add_span_processor(SessionSpanProcessor())  # as prela.init() installs it
    prela_provider.add_span_processor(SimpleSpanProcessor(DropExporter()))
    trace.set_tracer_provider(prela_provider)  # for @prela.trace, which uses the global provider

    plain_tracer = plain_provider.get_tracer("bench")
    prela_tracer = prela_provider.get_tracer("bench")
    assert isinstance(prela_tracer, PrelaTracer)

    @prela.trace("op", attributes={"k": 1})
    def decorated() -> None:
        pass

    def run_decorated() -> None:
        for _ in range(spans):
            decorated()

    variants: dict[str, Callable[[], None]] = {
        "plain": lambda: _loop_plain(plain_tracer, spans),
        "prela": lambda: _loop_plain(prela_tracer, spans),
        "prela+span_type": lambda: _loop_prela_span_type(prela_tracer, spans),
        "prela in a session": lambda: _in_session(prela_tracer, spans),
        "@prela.trace": run_decorated,
    }
    for run in variants.values():  # warm-up
        run()
    results: dict[str, list[float]] = {name: [] for name in variants}
    ratios: list[float] = []
    for _ in range(args.rounds):
        for name, run in variants.items():
            results[name].append(_timed(run, spans))
        ratios.append(results["prela"][-1] / results["plain"][-1])

    print(f"{spans} spans x {args.rounds} rounds, SimpleSpanProcessor + drop exporter, median spans/s:")
    plain = statistics.median(results["plain"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"  {name:<18} {median:>10,.0f} spans/s  {1e6 / median:6.2f} µs/span  x{median / plain:.3f}")
    print(f"prela / plain (median of per-round ratios): {statistics.median(ratios):.3f}  (target >= 0.95)")


if __name__ == "__main__":
    main()
