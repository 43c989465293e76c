"""``Sandbox.device_rules_via_ebpf``, the setter rsandbox-surface's table
added (the Rust builder had it; the bindings did not): the same device rules
enforced by the cgroup v1 ``devices`` controller or, asked, by the cgroup v2
eBPF program. Seen from inside (the box opens /dev/null, c 1:3, and is
refused /dev/zero, c 1:5) and in the report, which names the mechanism."""

from __future__ import annotations

import os

import pytest

import rsandbox
from conftest import sh

RULES = [rsandbox.DeviceRule.deny_all(), rsandbox.DeviceRule.allow("c", 1, 3, "rw")]
PROBE = "cat /dev/null && echo null_ok; head -c 1 /dev/zero >/dev/null 2>&1 || echo zero_refused"
V1 = os.path.exists("/sys/fs/cgroup/devices/devices.allow")


@pytest.mark.skipif(os.getuid() != 0, reason="device rules need a cgroup of the box's own (root)")
@pytest.mark.parametrize(
    ("via_ebpf", "mechanism"),
    [
        (False, "cgroup v1 devices" if V1 else "eBPF BPF_CGROUP_DEVICE"),
        (True, "eBPF BPF_CGROUP_DEVICE"),
        (None, "eBPF BPF_CGROUP_DEVICE"),  # the argument defaults to True
    ],
)
def test_the_rules_hold_by_either_mechanism(via_ebpf: bool | None, mechanism: str) -> None:
    sb = rsandbox.Sandbox().device_rules(RULES)
    sb = sb.device_rules_via_ebpf() if via_ebpf is None else sb.device_rules_via_ebpf(via_ebpf)
    r = sh(PROBE, sandbox=sb)
    assert (r.returncode, r.stdout) == (0, b"null_ok\nzero_refused\n"), r
    layer = r.outcome.enforcement.layer("limit:devices")
    assert layer is not None and layer.enforcement == "full", layer
    assert layer.applied.startswith(mechanism), layer.applied

