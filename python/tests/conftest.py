"""Shared helpers for the rsandbox Python tests.

The tests run as root in CI (some also run a scenario as `nobody`). They
assert what is seen from inside the box, and never change the host.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Iterator

import pytest

import rsandbox

# Every namespace but cgroup/time: what most tests run in.
BOX = (
    rsandbox.Sandbox()
    .user_ns()
    .pid_ns()
    .mount_ns()
    .uts_ns()
    .ipc_ns()
    .net_ns()
    .hostname("rsbox")
)


def sh(
    script: str, sandbox: rsandbox.Sandbox = BOX, timeout: float = 20, **kw: object
) -> rsandbox.RunResult[bytes]:
    """Run a shell script in the box, capturing its output."""
    return rsandbox.run(
        ["/bin/sh", "-c", script],
        sandbox=sandbox,
        capture_output=True,
        timeout=timeout,
        **kw,  # type: ignore[arg-type]
    )


def pidfd_ended(fd: int, wait: float = 0.0) -> bool:
    """True when the process behind pidfd `fd` has exited."""
    r, _, _ = select.select([fd], [], [], wait)
    return bool(r)


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (from /proc/*/stat)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            out.append(int(name))
    return out


def descendants(pid: int) -> list[int]:
    out: list[int] = []
    todo = [pid]
    while todo:
        kids = children_of(todo.pop())
        out += kids
        todo += kids
    return out


def wait_for(cond: "object", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


@pytest.fixture
def tree_pidfds() -> Iterator[list[int]]:
    """A list to put pidfds in; closed after the test."""
    fds: list[int] = []
    yield fds
    for fd in fds:
        os.close(fd)
