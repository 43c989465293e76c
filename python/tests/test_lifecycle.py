"""The Child handle: context manager, del, poll/wait, GIL release."""

from __future__ import annotations

import gc
import os
import threading
import time

import pytest

import rsandbox
from conftest import BOX, descendants, pidfd_ended, wait_for

TREE = ["/bin/sh", "-c", "sleep 100 & sleep 100 & wait"]


def _tree(child: rsandbox.Child, fds: list[int]) -> list[int]:
    """pidfds for the child and every process under it (once all are up)."""
    wait_for(lambda: len(descendants(child.pid)) >= 2)
    pids = [child.pid, *descendants(child.pid)]
    fds += [os.pidfd_open(p) for p in pids]
    return pids


@pytest.mark.parametrize("sb", [BOX, rsandbox.Sandbox()], ids=["pid_ns", "no_ns"])
def test_context_manager_kills_the_tree(sb: rsandbox.Sandbox, tree_pidfds: list[int]) -> None:
    with sb.spawn(TREE) as child:
        pids = _tree(child, tree_pidfds)
        assert not any(pidfd_ended(fd) for fd in tree_pidfds)
    for fd in tree_pidfds:
        assert pidfd_ended(fd, wait=5)
    assert not os.path.exists(f"/proc/{pids[0]}")  # reaped, not a zombie
    assert child.returncode == -9
    assert child.outcome is not None and child.outcome.reason == "killed"


def test_context_manager_on_exception(tree_pidfds: list[int]) -> None:
    with pytest.raises(RuntimeError):
        with BOX.spawn(TREE) as child:
            _tree(child, tree_pidfds)
            raise RuntimeError("boom")
    assert all(pidfd_ended(fd, wait=5) for fd in tree_pidfds)


def test_del_leaves_no_process(tree_pidfds: list[int]) -> None:
    child = BOX.spawn(TREE)
    pids = _tree(child, tree_pidfds)
    del child
    gc.collect()
    assert all(pidfd_ended(fd, wait=5) for fd in tree_pidfds)
    assert not os.path.exists(f"/proc/{pids[0]}")


def test_poll_wait_returncode_fileno() -> None:
    child = BOX.spawn(["/bin/sh", "-c", "read x; exit 7"], stdin=rsandbox.PIPE)
    assert child.poll() is None and child.returncode is None
    assert os.readlink(f"/proc/self/fd/{child.fileno()}") == "anon_inode:[pidfd]"
    assert child.pid > 0
    assert child.stdin is not None
    child.stdin.write(b"go\n")
    child.stdin.close()
    outcome = child.wait(timeout=10)
    assert outcome.returncode == 7 and outcome.exit_code == 7 and not outcome.success
    assert child.poll() is not None and child.returncode == 7
    assert "returncode=7" in repr(child)
    child.kill()  # a no-op once reaped


def test_send_signal_and_terminate() -> None:
    with BOX.spawn(["sleep", "30"]) as child:
        child.terminate()
        outcome = child.wait(timeout=10)
    assert outcome.signal == 15 and outcome.returncode == -15


def test_wait_releases_the_gil() -> None:
    child = BOX.spawn(["sleep", "1"])
    counted = 0
    done = threading.Event()

    def waiter() -> None:
        child.wait()
        done.set()

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        counted += 1
    t.join(10)
    assert done.is_set()
    # The main thread ran freely while the other thread waited.
    assert counted > 10_000


def test_stdout_file_objects() -> None:
    child = BOX.spawn(
        ["/bin/sh", "-c", "echo out; echo err >&2"],
        stdout=rsandbox.PIPE,
        stderr=rsandbox.PIPE,
        stdin=rsandbox.DEVNULL,
    )
    with child:
        assert child.stdin is None
        assert child.stdout is not None and child.stderr is not None
        assert child.stdout.read() == b"out\n"
        assert child.stderr.read() == b"err\n"
        assert child.wait().success
    assert child.stdout.closed and child.stderr.closed


def test_stdio_to_a_file(tmp_path: "os.PathLike[str]") -> None:
    path = os.path.join(tmp_path, "out")
    with open(path, "wb") as f:
        r = rsandbox.run(["echo", "to file"], sandbox=BOX, stdout=f, timeout=10)
    assert r.returncode == 0 and r.stdout is None
    with open(path, "rb") as f:
        assert f.read() == b"to file\n"
