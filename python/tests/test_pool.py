"""The warm pool from Python: a pooled payload sees its own box (pid
namespace with rsandbox's init as 1, hostname) and its status comes back on
the usual ``Child``; more spawns than boxes never block; bad input raises
typed errors before any box is used."""

from __future__ import annotations

import pytest

import rsandbox
from conftest import BOX

INSIDE = "echo pid=$$ ppid=$PPID; cat /proc/1/comm; cat /proc/sys/kernel/hostname; exit 3"


def test_a_pooled_box_runs_its_payload_inside() -> None:
    with BOX.pool(2, stdout=rsandbox.PIPE) as pool:
        assert pool.capacity == 2
        for _ in range(3):
            with pool.spawn(["/bin/sh", "-c", INSIDE]) as child:
                assert child.stdout is not None
                assert child.stdout.read() == b"pid=2 ppid=1\nrsandbox-init\nrsbox\n"
                o = child.wait(timeout=20)
                assert o.exit_code == 3 and o.reason == "exited"
                layer = child.enforcement.layer("pool")
                assert layer is not None and "pool of 2" in layer.applied


def test_more_spawns_than_boxes() -> None:
    with BOX.pool(1, stdout=rsandbox.DEVNULL) as pool:
        kids = [pool.spawn(["/bin/sh", "-c", f"exit {10 + i}"]) for i in range(5)]
        assert [k.wait(timeout=20).exit_code for k in kids] == [10, 11, 12, 13, 14]


def test_bad_pools_raise_typed_errors() -> None:
    with pytest.raises(rsandbox.ConfigError, match="pool size"):
        BOX.pool(0)
    with pytest.raises(rsandbox.ConfigError):
        BOX.pool(-1)
    with pytest.raises(rsandbox.ConfigError, match="PID namespace"):
        rsandbox.Sandbox().pool(1)
    pool = BOX.pool(1)
    with pytest.raises(rsandbox.ProgramNotFoundError):
        pool.spawn(["/no/such/program"])
    pool.close()
    pool.close()
    assert pool.closed and pool.ready == 0
    with pytest.raises(ValueError, match="closed"):
        pool.spawn(["/bin/true"])
