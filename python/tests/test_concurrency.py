"""Threads and asyncio: many sandboxes at once, no hang, no thread per child."""

from __future__ import annotations

import asyncio
import threading
import time

import rsandbox
from conftest import BOX

THREADS = 16
PER_THREAD = 4


def test_threads_spawn_while_others_allocate() -> None:
    stop = threading.Event()
    results: list[rsandbox.RunResult[bytes]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def allocate() -> None:
        # Churn the allocator (and the GIL) while sandboxes are cloned.
        while not stop.is_set():
            junk = [bytearray(4096) for _ in range(256)]
            junk.clear()

    def spawn(i: int) -> None:
        try:
            for j in range(PER_THREAD):
                r = rsandbox.run(
                    ["/bin/echo", f"{i}-{j}"], sandbox=BOX, capture_output=True, timeout=30
                )
                with lock:
                    results.append(r)
        except BaseException as e:  # noqa: BLE001 - reported below
            with lock:
                errors.append(e)

    allocators = [threading.Thread(target=allocate, daemon=True) for _ in range(4)]
    spawners = [threading.Thread(target=spawn, args=(i,), daemon=True) for i in range(THREADS)]
    for t in allocators + spawners:
        t.start()
    deadline = time.monotonic() + 90
    for t in spawners:
        t.join(max(0.0, deadline - time.monotonic()))
    stop.set()
    for t in allocators:
        t.join(10)
    assert not any(t.is_alive() for t in spawners), "a spawning thread hung"
    assert not errors, errors
    assert len(results) == THREADS * PER_THREAD
    outs = sorted(r.stdout for r in results if r.stdout is not None)
    expected = sorted(f"{i}-{j}\n".encode() for i in range(THREADS) for j in range(PER_THREAD))
    assert outs == expected
    assert all(r.returncode == 0 for r in results)


def test_concurrent_waits_on_one_child() -> None:
    child = BOX.spawn(["sleep", "0.5"])
    outcomes: list[rsandbox.Outcome] = []

    def waiter() -> None:
        outcomes.append(child.wait(timeout=20))

    ts = [threading.Thread(target=waiter) for _ in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(30)
    assert len(outcomes) == 4 and all(o.success for o in outcomes)


def test_asyncio_waits_on_50_sandboxes() -> None:
    async def main() -> tuple[list[rsandbox.Outcome], float, int]:
        threads_before = threading.active_count()
        children = [
            BOX.spawn(["/bin/sh", "-c", f"sleep 0.5; exit {i % 7}"]) for i in range(50)
        ]
        t0 = time.monotonic()
        gathered = asyncio.gather(*(c.wait_async() for c in children))
        await asyncio.sleep(0.1)
        threads_during = threading.active_count() - threads_before
        outcomes = await gathered
        return list(outcomes), time.monotonic() - t0, threads_during

    outcomes, elapsed, extra_threads = asyncio.run(main())
    assert [o.returncode for o in outcomes] == [i % 7 for i in range(50)]
    assert extra_threads == 0  # no thread per child
    assert elapsed < 20


def test_asyncio_enforces_the_timeout() -> None:
    async def main() -> rsandbox.Outcome:
        child = BOX.timeout(0.3).spawn(["sleep", "30"])
        return await asyncio.wait_for(child.wait_async(), 10)

    outcome = asyncio.run(main())
    assert outcome.timed_out and outcome.reason == "wall_time_limit"


def test_asyncio_loop_stays_responsive() -> None:
    async def main() -> int:
        child = BOX.spawn(["sleep", "0.5"])
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.ensure_future(ticker())
        await child.wait_async()
        t.cancel()
        return ticks

    assert asyncio.run(main()) > 10


def test_asyncio_several_waiters_on_one_child() -> None:
    async def main() -> list[rsandbox.Outcome]:
        child = BOX.spawn(["sleep", "0.3"])
        return list(await asyncio.wait_for(asyncio.gather(*(child.wait_async() for _ in range(3))), 10))

    assert all(o.success for o in asyncio.run(main()))


def test_big_input_and_output_do_not_deadlock() -> None:
    data = bytes(range(256)) * 4096  # 1 MiB, far above a pipe's buffer
    r = rsandbox.run(
        ["/bin/sh", "-c", "tee /dev/stderr"],
        sandbox=BOX,
        input=data,
        capture_output=True,
        timeout=30,
    )
    assert r.returncode == 0, r.stderr[-200:]
    assert r.stdout == data and r.stderr == data


def test_payload_ignoring_its_input() -> None:
    r = rsandbox.run(["true"], sandbox=BOX, input=b"x" * (1 << 20), capture_output=True, timeout=10)
    assert r.returncode == 0 and r.stdout == b""
