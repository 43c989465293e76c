"""asyncio support: await a sandbox by watching its pidfd in the event loop."""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._rsandbox import Child, Outcome


async def wait_child(child: Child) -> Outcome:
    """Wait for ``child`` without blocking the loop and without a thread.

    The loop watches the pidfd (readable once the sandbox's first process
    has ended); when the sandbox has a wall-clock limit, the loop also wakes
    at its deadline so that ``poll()`` enforces it (SIGTERM, grace, kill).
    """
    loop = asyncio.get_running_loop()
    # A duplicate of the pidfd: the loop keys its readers by fd number, so
    # several coroutines can wait on the same child without replacing each
    # other's reader.
    fd = os.dup(child.fileno())
    try:
        return await _wait(loop, child, fd)
    finally:
        os.close(fd)


async def _wait(loop: asyncio.AbstractEventLoop, child: Child, fd: int) -> Outcome:
    while True:
        outcome = child.poll()
        if outcome is not None:
            return outcome
        woken: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not woken.done():
                woken.set_result(None)

        loop.add_reader(fd, wake)
        delay = child._next_deadline()
        timer = loop.call_later(delay, wake) if delay is not None else None
        try:
            await woken
        finally:
            loop.remove_reader(fd)
            if timer is not None:
                timer.cancel()
