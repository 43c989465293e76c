"""Limits and timeouts, reported in the result."""

from __future__ import annotations

import subprocess
import time

import pytest

import rsandbox
from conftest import BOX, sh

PY = "/usr/bin/python3"


def test_wall_timeout_kills_the_tree_and_is_reported() -> None:
    t0 = time.monotonic()
    r = sh("sleep 30 & sleep 30", timeout=0.5)
    elapsed = time.monotonic() - t0
    assert r.timed_out and r.reason == "wall_time_limit", r
    assert r.returncode == -9 and r.signal == 9
    assert 0.4 < r.wall_time < 5 and elapsed < 5


def test_timeout_accepts_timedelta() -> None:
    from datetime import timedelta

    r = rsandbox.run(["sleep", "30"], sandbox=BOX, timeout=timedelta(milliseconds=300))
    assert r.timed_out


def test_grace_sends_sigterm_first() -> None:
    sb = BOX.timeout(0.3).grace(5)
    r = sh('trap "echo term; exit 3" TERM; sleep 30 & wait', sandbox=sb, timeout=None)  # type: ignore[arg-type]
    assert r.stdout == b"term\n", r
    assert r.returncode == 3


def test_memory_limit_oom_is_reported() -> None:
    sb = BOX.memory_limit(64 << 20)
    r = rsandbox.run(
        [PY, "-c", "x = b'x' * (512 << 20)"], sandbox=sb, capture_output=True, timeout=30
    )
    assert r.oom_killed and r.reason == "out_of_memory", r
    assert r.memory_peak is not None and r.memory_peak <= 64 << 20
    layer = r.enforcement.layer("limit:memory")
    assert layer is not None and layer.enforcement == "full"


def test_usage_is_reported() -> None:
    sb = BOX.accounting().memory_limit(256 << 20)
    r = rsandbox.run(
        [PY, "-c", "x = b'x' * (32 << 20); sum(range(3_000_000))"],
        sandbox=sb,
        capture_output=True,
        timeout=30,
    )
    assert r.returncode == 0, r
    assert r.cpu_time > 0
    assert r.wall_time >= r.outcome.user_time * 0.5
    assert r.max_rss >= 32 << 20
    assert r.memory_peak is not None and r.memory_peak >= 32 << 20


def test_cpu_time_limit() -> None:
    r = sh("while :; do :; done", sandbox=BOX.cpu_time_limit(1), timeout=20)
    assert r.cpu_time_exceeded and r.reason == "cpu_time_limit", r
    assert r.cpu_time >= 0.5


def test_pids_limit() -> None:
    r = sh(
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1 & done; wait",
        sandbox=BOX.pids_limit(4),
    )
    assert r.stderr, r  # fork failed in the box
    assert r.outcome.pids_peak is None or r.outcome.pids_peak <= 4


def test_rlimits() -> None:
    sb = BOX.rlimit_nofile(17).rlimit("fsize", 1024 * 1024).rlimit("RLIMIT_CORE", 0)
    r = sh("ulimit -n; ulimit -f; ulimit -c", sandbox=sb)
    assert r.stdout.split() == [b"17", b"2048", b"0"], r


def test_check_raises_called_process_error() -> None:
    with pytest.raises(rsandbox.CalledProcessError) as ei:
        sh("echo out; echo err >&2; exit 3", check=True)
    e = ei.value
    assert isinstance(e, subprocess.CalledProcessError)
    assert isinstance(e, rsandbox.SandboxError)
    assert e.returncode == 3 and e.reason == "exited"
    assert e.stdout == b"out\n" and e.stderr == b"err\n"
    assert e.result.outcome.exit_code == 3

    with pytest.raises(rsandbox.CalledProcessError) as ei:
        sh("sleep 30", timeout=0.2, check=True)
    assert ei.value.reason == "wall_time_limit"
    assert "wall_time_limit" in str(ei.value)
    # Success does not raise.
    assert sh("true", check=True).returncode == 0


def test_wait_timeout_raises_timeout_expired() -> None:
    with BOX.spawn(["sleep", "30"]) as child:
        with pytest.raises(rsandbox.TimeoutExpired) as ei:
            child.wait(timeout=0.2)
        assert isinstance(ei.value, subprocess.TimeoutExpired)
        assert ei.value.timeout == pytest.approx(0.2)
        assert child.poll() is None  # still running: wait(timeout) does not kill
        child.kill()
        outcome = child.wait(timeout=10)
    assert outcome.reason == "killed" and outcome.returncode == -9
