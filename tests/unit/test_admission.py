"""The admission limiter: what is admitted, what waits, what is refused at once and why.

Time is a fake clock the tests move (the limiter's estimates), except where a
waiter's bound must actually expire on the event loop (a few milliseconds).
"""

from __future__ import annotations

import asyncio
import threading
import time

import grpc
import pytest
from prometheus_client import REGISTRY

from prela.collector.admission import ADMISSION, DEADLINE, Admission, AdmissionLimiter, AdmissionRefused
from prela.collector.otlp_grpc import build_grpc_server, grpc_max_unrequested_s


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def limiter(
    max_requests: int = 2,
    max_bytes: int = 1000,
    max_queue: int = 4,
    max_wait_s: float = 10.0,
    clock: FakeClock | None = None,
) -> AdmissionLimiter:
    return AdmissionLimiter(
        max_requests, max_bytes, max_queue, max_wait_s, retry_after_s=1.5, clock=clock or FakeClock()
    )


async def test_requests_within_the_limits_are_admitted_at_once() -> None:
    admission = limiter()
    first = await admission.acquire(400)
    second = await admission.acquire(400)
    assert (admission.in_flight, admission.in_flight_bytes, admission.queued) == (2, 800, 0)
    assert (first.waited_s, second.waited_s) == (0.0, 0.0)


async def test_a_full_limiter_with_a_full_queue_refuses_at_once_with_the_retry_delay() -> None:
    admission = limiter(max_requests=1, max_queue=0)
    await admission.acquire(10)
    with pytest.raises(AdmissionRefused) as refused:
        await admission.acquire(10)
    assert refused.value.reason == ADMISSION
    assert refused.value.retry_after_s == 1.5
    assert refused.value.retry_after_header == "2"
    assert "server overloaded" in refused.value.message


async def test_the_byte_budget_makes_a_request_wait_although_the_request_count_has_room() -> None:
    admission = limiter(max_requests=8, max_bytes=1000)
    first = await admission.acquire(900)
    waiting = asyncio.create_task(admission.acquire(200))
    await asyncio.sleep(0)
    assert (admission.queued, waiting.done()) == (1, False)
    admission.release(first)
    second = await waiting
    assert (admission.in_flight, admission.in_flight_bytes, second.nbytes) == (1, 200, 200)


async def test_an_idle_limiter_admits_a_request_larger_than_the_byte_budget() -> None:
    admission = limiter(max_bytes=1000)
    big = await admission.acquire(5000)
    assert (admission.in_flight, admission.in_flight_bytes, big.nbytes) == (1, 5000, 5000)


async def test_waiters_are_admitted_in_arrival_order_as_requests_finish() -> None:
    admission = limiter(max_requests=1)
    first = await admission.acquire(1)
    order: list[str] = []

    async def wait(name: str) -> Admission:
        got = await admission.acquire(1)
        order.append(name)
        return got

    second = asyncio.create_task(wait("second"))
    await asyncio.sleep(0)
    third = asyncio.create_task(wait("third"))
    await asyncio.sleep(0)
    admission.release(first)
    admission.release(await second)
    admission.release(await third)
    assert order == ["second", "third"]
    assert (admission.in_flight, admission.in_flight_bytes, admission.queued) == (0, 0, 0)


async def test_the_gauges_show_bytes_in_flight_and_the_oldest_wait_and_the_histogram_every_admission() -> (
    None
):
    clock = FakeClock()
    admission = limiter(max_requests=1, clock=clock)
    waits_before = REGISTRY.get_sample_value("prela_admission_wait_seconds_count") or 0.0
    first = await admission.acquire(300)
    assert REGISTRY.get_sample_value("prela_admission_in_flight_bytes") == 300
    assert REGISTRY.get_sample_value("prela_admission_oldest_wait_seconds") == 0
    waiter = asyncio.create_task(admission.acquire(50))
    await asyncio.sleep(0)
    clock.now += 0.75
    assert REGISTRY.get_sample_value("prela_admission_oldest_wait_seconds") == pytest.approx(0.75)
    admission.release(first)
    second = await waiter
    assert second.waited_s == pytest.approx(0.75)
    assert REGISTRY.get_sample_value("prela_admission_oldest_wait_seconds") == 0
    assert REGISTRY.get_sample_value("prela_admission_in_flight_bytes") == 50
    assert REGISTRY.get_sample_value("prela_admission_wait_seconds_count") == waits_before + 2
    admission.release(second)


async def test_a_newcomer_cannot_overtake_a_waiter() -> None:
    admission = limiter(max_requests=1)
    first = await admission.acquire(1)
    waiter = asyncio.create_task(admission.acquire(1))
    await asyncio.sleep(0)
    admission.release(first)  # the slot is handed to the waiter right here
    newcomer = asyncio.create_task(admission.acquire(1))
    await asyncio.sleep(0)
    assert waiter.done() and not newcomer.done()
    admission.release(waiter.result())
    admission.release(await newcomer)


async def test_a_request_whose_estimated_wait_exceeds_the_bound_is_refused_without_waiting() -> None:
    clock = FakeClock()
    admission = limiter(max_requests=1, max_wait_s=1.0, clock=clock)
    one = await admission.acquire(1)
    clock.now += 0.8  # one request took 0.8 s in flight: the estimate of the mean
    admission.release(one)
    await admission.acquire(1)
    assert admission.estimated_wait_s() == pytest.approx(0.8)
    waiter = asyncio.create_task(admission.acquire(1))  # waits: 0.8 s estimated ≤ 1 s
    await asyncio.sleep(0)
    assert admission.queued == 1
    with pytest.raises(AdmissionRefused) as refused:  # would wait 1.6 s
        await admission.acquire(1)
    assert refused.value.reason == ADMISSION
    assert "estimated wait of 1.60 s exceeds 1.00 s" in refused.value.message
    waiter.cancel()


async def test_a_waiter_is_shed_when_it_waited_longer_than_the_bound() -> None:
    admission = AdmissionLimiter(1, 1000, 4, max_wait_s=0.01, retry_after_s=1)
    await admission.acquire(1)
    with pytest.raises(AdmissionRefused) as refused:
        await admission.acquire(1)
    assert refused.value.reason == ADMISSION
    assert "for admission, the bound is 0.01 s" in refused.value.message
    assert admission.queued == 0


async def test_a_passed_deadline_is_refused_as_expired() -> None:
    admission = limiter()
    with pytest.raises(AdmissionRefused) as refused:
        await admission.acquire(1, time_remaining_s=0.0)
    assert (refused.value.reason, refused.value.expired) == (DEADLINE, True)
    assert admission.in_flight == 0


async def test_a_deadline_shorter_than_the_estimated_wait_is_refused_at_once() -> None:
    clock = FakeClock()
    admission = limiter(max_requests=1, max_wait_s=10.0, clock=clock)
    one = await admission.acquire(1)
    clock.now += 2.0
    admission.release(one)
    await admission.acquire(1)
    with pytest.raises(AdmissionRefused) as refused:
        await admission.acquire(1, time_remaining_s=3.0)  # 2 s wait + 2 s in flight > 3 s
    assert (refused.value.reason, refused.value.expired) == (DEADLINE, False)
    assert admission.queued == 0


async def test_a_deadline_that_fits_waits_like_any_request() -> None:
    clock = FakeClock()
    admission = limiter(max_requests=1, clock=clock)
    one = await admission.acquire(1)
    clock.now += 1.0
    admission.release(one)
    first = await admission.acquire(1)
    waiter = asyncio.create_task(admission.acquire(1, time_remaining_s=5.0))
    await asyncio.sleep(0)
    admission.release(first)
    assert (await waiter).nbytes == 1


async def test_a_cancelled_waiter_gives_its_place_back() -> None:
    admission = limiter(max_requests=1)
    first = await admission.acquire(10)
    waiter = asyncio.create_task(admission.acquire(10))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (admission.queued, admission.in_flight) == (0, 1)
    admission.release(first)
    assert (admission.in_flight, admission.in_flight_bytes) == (0, 0)


async def test_a_waiter_cancelled_after_it_was_admitted_releases_its_share() -> None:
    admission = limiter(max_requests=1)
    first = await admission.acquire(10)
    waiter = asyncio.create_task(admission.acquire(10))
    await asyncio.sleep(0)
    admission.release(first)  # handed over; the waiter has not run yet
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (admission.in_flight, admission.in_flight_bytes, admission.queued) == (0, 0, 0)


async def test_a_chunked_body_is_charged_as_it_is_read_and_refused_past_the_budget() -> None:
    admission = limiter(max_requests=4, max_bytes=1000)
    other = await admission.acquire(600)
    chunked = await admission.acquire(0)
    chunked.grow(300)
    with pytest.raises(AdmissionRefused) as refused:
        chunked.grow(200)
    assert refused.value.reason == ADMISSION
    assert admission.in_flight_bytes == 900
    admission.release(chunked)
    admission.release(other)
    assert (admission.in_flight, admission.in_flight_bytes) == (0, 0)


async def test_a_chunked_body_alone_in_flight_may_exceed_the_budget() -> None:
    admission = limiter(max_bytes=1000)
    async with admission.admit(0) as chunked:
        chunked.grow(4000)
        assert admission.in_flight_bytes == 4000
    assert (admission.in_flight, admission.in_flight_bytes) == (0, 0)


async def test_release_is_idempotent_and_the_context_manager_releases_on_error() -> None:
    admission = limiter()
    with pytest.raises(RuntimeError):
        async with admission.admit(5):
            raise RuntimeError("handler failed")
    one = await admission.acquire(5)
    admission.release(one)
    admission.release(one)
    assert (admission.in_flight, admission.in_flight_bytes) == (0, 0)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_requests=0"):
        AdmissionLimiter(0, 1, 1, 1.0, 1.0)


async def test_a_full_pipeline_behind_the_receivers_refuses_at_admission() -> None:
    full = [True]
    admission = AdmissionLimiter(4, 1000, 4, 1.0, retry_after_s=1, downstream_full=lambda: full[0])
    with pytest.raises(AdmissionRefused) as refused:
        await admission.acquire(10)
    assert refused.value.reason == ADMISSION
    assert "the ingest queue is full" in refused.value.message
    full[0] = False
    admission.release(await admission.acquire(10))
    assert admission.in_flight == 0


class _BlockingTraceService:
    """A receiver whose first Export blocks the event loop (as a saturated loop does), recording every call
    its handler saw."""

    EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

    def __init__(self, block_s: float) -> None:
        self.block_s = block_s
        self.seen: list[bytes] = []

    def handlers(self) -> tuple[grpc.GenericRpcHandler, ...]:
        async def export(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
            self.seen.append(request)
            if len(self.seen) == 1:
                time.sleep(self.block_s)  # noqa: ASYNC251 - the whole loop stops: new calls wait in grpc-core
            return b""

        handler = grpc.unary_unary_rpc_method_handler(export)
        return (
            grpc.method_handlers_generic_handler(
                "opentelemetry.proto.collector.trace.v1.TraceService", {"Export": handler}
            ),
        )


async def test_grpc_calls_the_busy_event_loop_leaves_waiting_past_the_admission_wait_are_cancelled_unprocessed() -> (
    None
):
    admission = AdmissionLimiter(8, 1 << 20, 8, max_wait_s=1.0, retry_after_s=1.0)
    assert grpc_max_unrequested_s(admission) == 1
    receiver = _BlockingTraceService(block_s=2.5)
    server, port = build_grpc_server(receiver, "127.0.0.1", 0, 1 << 20, admission)  # type: ignore[arg-type]
    await server.start()

    def call(body: bytes, codes: dict[bytes, grpc.StatusCode]) -> None:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            try:
                channel.unary_unary(receiver.EXPORT)(body, timeout=15)
                codes[body] = grpc.StatusCode.OK
            except grpc.RpcError as exc:
                codes[body] = exc.code()  # type: ignore[attr-defined]

    def clients() -> dict[bytes, grpc.StatusCode]:
        codes: dict[bytes, grpc.StatusCode] = {}
        first = threading.Thread(target=call, args=(b"first", codes))
        first.start()
        time.sleep(0.5)  # the loop is blocked now
        later = [threading.Thread(target=call, args=(b"later-%d" % i, codes)) for i in range(4)]
        for thread in later:
            thread.start()
        for thread in [first, *later]:
            thread.join(30)
        return codes

    try:
        codes = await asyncio.to_thread(clients)
    finally:
        await server.stop(None)
    cancelled = {body for body, code in codes.items() if code == grpc.StatusCode.CANCELLED}
    assert codes[b"first"] == grpc.StatusCode.OK
    assert cancelled, f"no call was shed: {codes}"
    assert set(codes.values()) <= {grpc.StatusCode.OK, grpc.StatusCode.CANCELLED}
    assert not cancelled & set(receiver.seen), "a cancelled call reached the handler"
    assert {body for body, code in codes.items() if code == grpc.StatusCode.OK} == set(receiver.seen)
