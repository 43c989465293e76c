"""Process attributes and cgroup knobs seen from inside the box: supplementary
groups, umask, oom_score_adj, a joined namespace, device nodes, device rules
(cgroup v1 ``devices``), cpusets, block I/O throttles and ``net_cls``; and
their bad inputs, refused with typed errors before anything runs.

Most boxes here have no user namespace (groups, device nodes and the v1
controllers need root); as another user they raise ``PermissionError``."""

from __future__ import annotations

import errno
import os
import pickle
import subprocess

import pytest

import rsandbox
from conftest import sh

ROOT = os.getuid() == 0
root_only = pytest.mark.skipif(not ROOT, reason="needs root (runs as root in CI)")


def v1_controllers() -> set[str]:
    """The cgroup v1 controllers this process is in."""
    out: set[str] = set()
    with open("/proc/self/cgroup") as f:
        for line in f:
            out.update(c for c in line.split(":")[1].split(",") if c)
    return out


def has_cap(cap: int) -> bool:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool((int(line.split()[1], 16) >> cap) & 1)
    return False


@root_only
def test_groups_umask_oom_score_adj() -> None:
    sb = (
        rsandbox.Sandbox()
        .uid(1000)
        .gid(1000)
        .groups([4242, 4343])
        .umask(0o027)
        .oom_score_adj(500)
    )
    r = sh("id -u; id -G; umask; cat /proc/self/oom_score_adj", sandbox=sb)
    assert r.returncode == 0, r
    assert r.stdout == b"1000\n1000 4242 4343\n0027\n500\n"


@root_only
def test_groups_in_a_user_namespace() -> None:
    # The caller (root) is privileged over this gid map: setgroups allowed.
    sb = (
        rsandbox.Sandbox()
        .user_ns()
        .uid_map(0, 100000, 65536)
        .gid_map(0, 100000, 65536)
        .uid(0)
        .gid(0)
        .groups((7, 8))
    )
    r = sh("id -G", sandbox=sb)
    assert r.stdout == b"0 7 8\n", r


@root_only
def test_lower_oom_score_adj_needs_cap_sys_resource() -> None:
    sb = rsandbox.Sandbox().oom_score_adj(-250)
    if has_cap(24):  # CAP_SYS_RESOURCE
        assert sh("cat /proc/self/oom_score_adj", sandbox=sb).stdout == b"-250\n"
        return
    # Root without it (in a container): the child's typed failure.
    with pytest.raises(rsandbox.SpawnError) as e:
        sh("true", sandbox=sb)
    assert e.value.errno == errno.EACCES
    assert "oom_score_adj" in str(e.value)


@root_only
def test_join_a_namespace() -> None:
    holder = rsandbox.Sandbox().uts_ns().hostname("joined")
    with holder.spawn(["/bin/sleep", "30"]) as child:
        sb = rsandbox.Sandbox().join_ns("uts", f"/proc/{child.pid}/ns/uts")
        assert sh("uname -n", sandbox=sb).stdout == b"joined\n"
        child.kill()


@root_only
def test_device_nodes() -> None:
    sb = (
        rsandbox.Sandbox()
        .mount_ns()
        .dev()
        .device("/dev/null2", "char", 1, 3, mode=0o640, gid=5)
        .device("/dev/pipe", "fifo", mode=0o600)
    )
    r = sh("stat -c '%F %t:%T %a %u:%g' /dev/null2 /dev/pipe; echo x > /dev/null2", sandbox=sb)
    assert r.returncode == 0, r
    assert r.stdout == b"character special file 1:3 640 0:5\nfifo 0:0 600 0:0\n"


@root_only
def test_device_rules_deny_dev_null() -> None:
    sb = rsandbox.Sandbox().device_rules([rsandbox.DeviceRule.deny("c", 1, 3)])
    script = (
        "echo x > /dev/null 2>/dev/null && echo null-ok || echo null-denied; "
        "head -c 1 /dev/zero | wc -c"
    )
    # Enforced by the v1 controller here, by the eBPF program on pure v2.
    r = sh(script, sandbox=sb)
    assert r.stdout == b"null-denied\n1\n", r
    layer = r.outcome.enforcement.layer("limit:devices")
    assert layer is not None and layer.enforcement == "full", layer


@root_only
def test_device_rules_allow_list() -> None:
    rules = [rsandbox.DeviceRule.deny_all(), rsandbox.DeviceRule.allow("c", 1, 3, "rwm")]
    sb = (
        rsandbox.Sandbox()
        .mount_ns()
        .dev()
        .device("/dev/null2", "char", 1, 3)
        .device_rules(rules)
    )
    script = (
        "echo x > /dev/null2 && echo null2-ok; "
        "head -c 1 /dev/zero >/dev/null 2>&1 && echo zero-ok || echo zero-denied"
    )
    assert sh(script, sandbox=sb).stdout == b"null2-ok\nzero-denied\n"
    # Rules that deny the mknod of a node the box makes: refused first.
    bad = sb.device_rules([rsandbox.DeviceRule.deny_all()])
    with pytest.raises(rsandbox.ConfigError, match="deny its mknod") as e:
        bad.validate()
    assert e.value.field == "device_rules"


@root_only
def test_cpuset() -> None:
    sb = rsandbox.Sandbox().cpuset_cpus("0").cpuset_mems("0")
    r = sh("grep -E '^(Cpus|Mems)_allowed_list' /proc/self/status", sandbox=sb)
    assert r.stdout == b"Cpus_allowed_list:\t0\nMems_allowed_list:\t0\n", r


def block_device() -> tuple[int, int]:
    for name in ("vda", "sda", "nvme0n1", "loop0"):
        try:
            with open(f"/sys/block/{name}/dev") as f:
                major, minor = f.read().strip().split(":")
                return int(major), int(minor)
        except OSError:
            continue
    raise AssertionError("no block device found")


@root_only
def test_blkio_throttle() -> None:
    major, minor = block_device()
    sb = (
        rsandbox.Sandbox()
        .blkio_throttle("read_bps", major, minor, 1 << 20)
        .blkio_throttle("write_iops", major, minor, 100)
    )
    r = sh(
        "d=/sys/fs/cgroup/blkio$(grep :blkio: /proc/self/cgroup | cut -d: -f3); "
        "cat $d/blkio.throttle.read_bps_device $d/blkio.throttle.write_iops_device",
        sandbox=sb,
    )
    assert r.stdout.decode() == f"{major}:{minor} 1048576\n{major}:{minor} 100\n", r


@root_only
def test_net_classid() -> None:
    sb = rsandbox.Sandbox().net_classid(0x100001)
    script = (
        "cat /sys/fs/cgroup/net_cls$(grep -E ':net_cls(,|:)' /proc/self/cgroup | "
        "cut -d: -f3)/net_cls.classid"
    )
    if "net_cls" not in v1_controllers():
        with pytest.raises(rsandbox.UnsupportedError, match="net_cls"):
            sh(script, sandbox=sb)
        return
    assert sh(script, sandbox=sb).stdout == b"1048577\n"


def test_bad_values_are_typed_errors_before_spawn() -> None:
    # umask and oom_score_adj are checked when the spawn is planned.
    for sb, field in [
        (rsandbox.Sandbox().umask(0o1000), "umask"),
        (rsandbox.Sandbox().oom_score_adj(1001), "oom_score_adj"),
        (rsandbox.Sandbox().oom_score_adj(-1001), "oom_score_adj"),
    ]:
        with pytest.raises(rsandbox.ConfigError) as e:
            rsandbox.run(["/bin/true"], sandbox=sb)
        assert e.value.field == field, e.value
        assert isinstance(e.value, ValueError)
    # The rest at validation.
    for sb, field in [
        (rsandbox.Sandbox().device_rules([rsandbox.DeviceRule.allow("x", 1, 3)]), "device_rules"),
        (rsandbox.Sandbox().device_rules([rsandbox.DeviceRule(True, "c", 1, 3, "rx")]), "device_rules"),
        (rsandbox.Sandbox().cpuset_cpus("zero"), "cpuset_cpus"),
        (rsandbox.Sandbox().blkio_weight(5), "blkio_weight"),
        (rsandbox.Sandbox().net_priority("a/b", 1), "net_priority"),
    ]:
        with pytest.raises(rsandbox.ConfigError) as e:
            sb.validate()
        assert e.value.field == field, e.value
    # Names the binding converts.
    with pytest.raises(rsandbox.ConfigError, match="expected one of char, block, fifo"):
        rsandbox.Sandbox().device("/dev/x", "pipe")  # type: ignore[arg-type]
    with pytest.raises(rsandbox.ConfigError, match="read_bps"):
        rsandbox.Sandbox().blkio_throttle("read", 8, 0, 1)  # type: ignore[arg-type]
    with pytest.raises(rsandbox.ConfigError, match="unknown namespace"):
        rsandbox.Sandbox().join_ns("network", "/proc/self/ns/net")  # type: ignore[arg-type]
    # Out of the argument's type: Python's own errors.
    with pytest.raises(OverflowError):
        rsandbox.Sandbox().umask(-1)
    with pytest.raises(OverflowError):
        rsandbox.Sandbox().blkio_weight(70000)
    with pytest.raises(TypeError):
        rsandbox.Sandbox().groups("12")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        rsandbox.DeviceRule.allow("cc")


def test_device_rule_values_and_round_trip() -> None:
    r = rsandbox.DeviceRule.allow("b", 8, None, "r")
    assert (r.allowed, r.kind, r.major, r.minor, r.access) == (True, "b", 8, None, "r")
    assert r == rsandbox.DeviceRule(True, "b", 8, None, "r")
    assert rsandbox.DeviceRule.deny_all() == rsandbox.DeviceRule(False, "a")
    assert repr(r) == 'rsandbox.DeviceRule(True, "b", 8, None, "r")'
    sb = (
        rsandbox.Sandbox()
        .groups([1, 2])
        .umask(0o22)
        .oom_score_adj(10)
        .device_rules([rsandbox.DeviceRule.deny_all(), r])
        .cpuset_cpus("0")
        .blkio_throttle("write_bps", 8, 0, 5)
        .net_priority("lo", 3)
        .mqueue()
        .device("/dev/null", "char", 1, 3)
    )
    assert rsandbox.Sandbox.from_json(sb.to_json()) == sb
    assert pickle.loads(pickle.dumps(sb)) == sb
    assert sb != rsandbox.Sandbox()


@root_only
def test_mqueue_and_sysfs_mounts() -> None:
    sb = rsandbox.Sandbox().mount_ns().ipc_ns().net_ns().mqueue().sysfs()
    r = sh("grep -E ' /dev/mqueue | /sys ' /proc/self/mounts | cut -d' ' -f2,3", sandbox=sb)
    assert sorted(r.stdout.decode().splitlines()) == ["/dev/mqueue mqueue", "/sys sysfs"], r


def test_start_gate_holds_the_payload() -> None:
    r_fd, w_fd = os.pipe()
    try:
        sb = rsandbox.Sandbox().start_gate(r_fd)
        with sb.spawn(["/bin/sh", "-c", "exit 7"], stdout=subprocess.DEVNULL) as child:
            # Held before exec until a byte comes.
            assert child.poll() is None
            with pytest.raises(rsandbox.TimeoutExpired):
                child.wait(timeout=0.3)
            os.write(w_fd, b"x")
            assert child.wait(timeout=10).exit_code == 7
    finally:
        os.close(r_fd)
        os.close(w_fd)


def test_mount_step_in_profile_form() -> None:
    # Rootless: a user namespace (and a pid one, for /proc).
    step = {"type": "tmpfs", "dst": "/tmp/inner", "size": 1 << 20, "source": "boxtmp", "mode": 0o700}
    sb = rsandbox.Sandbox().user_ns().pid_ns().mount_ns().mount_step(step)
    r = sh("stat -c %a /tmp/inner; grep -c ' /tmp/inner .* boxtmp ' /proc/self/mountinfo", sandbox=sb)
    assert r.stdout == b"700\n1\n", r
    with pytest.raises(rsandbox.ConfigError, match="sise") as e:
        rsandbox.Sandbox().mount_step({"type": "tmpfs", "dst": "/x", "sise": 1})
    assert e.value.field == "mount_step"
    with pytest.raises(TypeError):
        rsandbox.Sandbox().mount_step({"type": object()})
