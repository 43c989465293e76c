"""Ctrl-C during a wait kills the sandbox and raises KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator

import pytest

import rsandbox
from conftest import BOX, pidfd_ended


@pytest.fixture(autouse=True)
def default_sigint() -> Iterator[None]:
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, old)


def _ctrl_c_in(seconds: float) -> threading.Timer:
    t = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    t.start()
    return t


@pytest.mark.parametrize("sb", [BOX, rsandbox.Sandbox()], ids=["pid_ns", "no_ns"])
def test_ctrl_c_during_wait(sb: rsandbox.Sandbox) -> None:
    child = sb.spawn(["sleep", "30"])
    fd = os.pidfd_open(child.pid)
    try:
        timer = _ctrl_c_in(0.3)
        with pytest.raises(KeyboardInterrupt):
            child.wait()
        timer.join()
        assert pidfd_ended(fd, wait=5)
        assert child.returncode == -9
        assert not os.path.exists(f"/proc/{child.pid}")
    finally:
        os.close(fd)


def test_ctrl_c_during_wait_with_timeout() -> None:
    child = BOX.spawn(["sleep", "30"])
    timer = _ctrl_c_in(0.3)
    with pytest.raises(KeyboardInterrupt):
        child.wait(timeout=20)
    timer.join()
    assert child.returncode == -9


def _running(cmdline: bytes) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/cmdline", "rb") as f:
                    if f.read() == cmdline:
                        out.append(int(name))
            except OSError:
                continue
    return out


@pytest.mark.parametrize("capture", [True, False])
def test_ctrl_c_during_run(capture: bool) -> None:
    # A unique duration marks this test's payload among the host's processes.
    secs = f"30.{os.getpid()}{int(capture)}"
    marker = b"sleep\0" + secs.encode() + b"\0"
    timer = _ctrl_c_in(0.5)
    with pytest.raises(KeyboardInterrupt):
        rsandbox.run(["/bin/sh", "-c", f"sleep {secs}; true"], sandbox=BOX, capture_output=capture)
    timer.join()
    assert _running(marker) == []


def test_marker_is_seen_while_running() -> None:
    """The check above would see the payload if it were left running."""
    secs = f"30.{os.getpid()}9"
    marker = b"sleep\0" + secs.encode() + b"\0"
    with BOX.spawn(["/bin/sh", "-c", f"sleep {secs}; true"]):
        deadline = 50
        while not _running(marker) and deadline:
            deadline -= 1
            threading.Event().wait(0.1)
        assert _running(marker)
    assert _running(marker) == []
