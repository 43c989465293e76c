"""The headline isolation properties, seen from inside the box."""

from __future__ import annotations

import os
import pathlib
import pickle
import tempfile

import pytest

import rsandbox
from conftest import BOX, sh


def test_pid_namespace_payload_is_child_of_init() -> None:
    r = sh('echo "$PPID $$"; ls /proc | grep -c "^[0-9]"', sandbox=BOX.proc())
    assert r.returncode == 0, r
    ppid, pid, nprocs = r.stdout.split()
    assert ppid == b"1"
    assert pid == b"2"
    # init, the shell, ls and grep at most: none of the host's processes.
    assert int(nprocs) <= 4


def test_hostname() -> None:
    r = sh("hostname; cat /proc/sys/kernel/hostname")
    assert r.stdout == b"rsbox\nrsbox\n"
    assert os.uname().nodename != "rsbox"


def test_uid_gid_map() -> None:
    me = os.getuid()
    r = sh("id -u; id -g; cat /proc/self/uid_map", sandbox=BOX.uid(1000).gid(1000))
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "1000" and lines[1] == "1000", r
    assert lines[2].split() == ["1000", str(me), "1"]


def test_net_namespace_has_only_loopback() -> None:
    r = sh("tail -n +3 /proc/net/dev | cut -d: -f1")
    assert r.stdout.split() == [b"lo"], r


def test_shared_network_namespace() -> None:
    if os.getuid() != 0:
        with pytest.raises(PermissionError):
            rsandbox.NetNs()
        return
    ns = rsandbox.NetNs()
    host = os.readlink("/proc/self/ns/net")
    want = f"net:[{ns.inode}]"
    assert want != host
    script = "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev | cut -d: -f1"
    for sb in (rsandbox.Sandbox.strict().net_ns_shared(ns), BOX.net_ns_shared(ns)):
        r = sh(script, sandbox=sb)
        assert r.stdout.decode().split() == [want, "lo"], r
    # A box without it has its own.
    r = sh(script)
    assert r.stdout.decode().split()[0] not in (want, host), r
    # Not part of the JSON form (a live namespace is not a description).
    sb = BOX.net_ns_shared(ns)
    assert sb != BOX and "net" not in sb.namespaces
    back = rsandbox.Sandbox.from_json(sb.to_json())
    assert back != sb and "net" not in back.namespaces


def test_clean_environment_and_env_values() -> None:
    os.environ["RSANDBOX_HOST_SECRET"] = "1"
    try:
        r = sh("env | sort", sandbox=BOX.env("GREETING", "hi").envs({"A": "b"}))
    finally:
        del os.environ["RSANDBOX_HOST_SECRET"]
    env = dict(line.split("=", 1) for line in r.stdout.decode().splitlines())
    assert "RSANDBOX_HOST_SECRET" not in env
    assert env["GREETING"] == "hi" and env["A"] == "b"
    assert env["PATH"].startswith("/usr/local/sbin")


def test_paths_accept_str_bytes_and_pathlike() -> None:
    with tempfile.TemporaryDirectory() as d:
        pathlib.Path(d, "f").write_text("data")
        sb = BOX.ro_bind(pathlib.Path(d), b"/mnt").cwd("/mnt").tmpfs("/scratch", 1 << 20)
        r = rsandbox.run(
            [b"/bin/cat", pathlib.Path("f")], sandbox=sb, capture_output=True, timeout=10
        )
        assert r.stdout == b"data", r
        # Read-only: the bind cannot be written.
        r = sh("echo x > /mnt/f", sandbox=sb)
        assert r.returncode != 0
        assert pathlib.Path(d, "f").read_text() == "data"


def test_filesystem_steps() -> None:
    sb = (
        BOX.tmpfs("/work", 1 << 20)
        .dir("/work/a/b")
        .file("/work/a/hello", "hello\n")
        .symlink("/work/a/hello", "/work/link")
        .mask("/etc")
    )
    r = sh("cat /work/link; test -d /work/a/b && echo dir; ls /etc | wc -l", sandbox=sb)
    assert r.stdout.split() == [b"hello", b"dir", b"0"], r


def test_seccomp_oci_profile_kills() -> None:
    profile = """{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}"""
    r = sh("exec mkdir /tmp/rsandbox-never-made", sandbox=BOX.seccomp_oci_json(profile))
    assert r.seccomp_violation, r
    assert r.reason == "seccomp_violation"
    assert r.signal == 31  # SIGSYS
    assert r.enforcement.layer("seccomp") is not None
    assert not os.path.exists("/tmp/rsandbox-never-made")


def test_strict_preset_and_report() -> None:
    r = rsandbox.run(["/bin/true"], sandbox=rsandbox.Sandbox.strict(), timeout=10)
    assert r.returncode == 0, r
    report = r.enforcement
    assert report.fully_enforced, str(report)
    seccomp = report.layer("seccomp")
    assert seccomp is not None and seccomp.enforcement == "full"
    caps = report.layer("capabilities")
    assert caps is not None and caps.enforcement == "full"
    assert {layer.layer for layer in report.layers} >= {"namespace:pid", "namespace:net"}
    # The same report is available before spawning.
    assert rsandbox.Sandbox.strict().enforcement_report().fully_enforced


def test_run_without_a_sandbox_is_strict() -> None:
    # rsandbox.run(argv) alone must sandbox: Sandbox.strict(), seen from
    # inside (own pid namespace, no capability, seccomp on, the default
    # root view's private /tmp) and in the report.
    marker = tempfile.NamedTemporaryFile(prefix="rsandbox-host-", dir="/tmp")
    with marker:
        r = rsandbox.run(
            [
                "/bin/sh",
                "-c",
                "echo $$; grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status; "
                f"test -e {marker.name} && echo host-tmp || echo private-tmp",
            ],
            capture_output=True,
            timeout=20,
        )
    assert r.returncode == 0, r
    lines = r.stdout.decode().split("\n")
    assert lines[0] == "2", r  # the payload under the box's init
    assert "CapEff:\t0000000000000000" in lines, r
    assert "NoNewPrivs:\t1" in lines, r
    assert "Seccomp:\t2" in lines, r
    assert "private-tmp" in lines, r
    assert r.enforcement.fully_enforced, str(r.enforcement)
    seccomp = r.enforcement.layer("seccomp")
    assert seccomp is not None and "default profile" in seccomp.applied
    # Sandbox() stays a plain builder: nothing isolated unless asked.
    plain = rsandbox.Sandbox().enforcement_report()
    assert plain.layer("seccomp").enforcement == "not_requested"  # type: ignore[union-attr]


def test_landlock_denies_writes() -> None:
    with tempfile.TemporaryDirectory() as d:
        # No mount namespace: Landlock rules name host paths.
        sb = (
            rsandbox.Sandbox()
            .user_ns()
            .pid_ns()
            .landlock_exec("/usr")
            .landlock_read("/etc")
            .landlock_write(d)
        )
        r = sh(f"echo ok > {d}/allowed; echo no > /tmp/rsandbox-landlock-denied", sandbox=sb)
        assert pathlib.Path(d, "allowed").read_text() == "ok\n"
        assert not os.path.exists("/tmp/rsandbox-landlock-denied")
        assert r.returncode != 0
        layer = r.enforcement.layer("landlock")
        assert layer is not None and layer.enforcement == "full"


def test_builder_is_immutable_and_serializable() -> None:
    base = rsandbox.Sandbox()
    derived = base.pid_ns().memory_limit(1 << 30)
    assert base.namespaces == []
    assert derived.namespaces == ["pid"]
    assert rsandbox.Sandbox.from_json(derived.to_json()) == derived
    assert pickle.loads(pickle.dumps(derived)) == derived
    assert derived != base


def test_spawn_with_pipes() -> None:
    with BOX.spawn(["/bin/cat"], stdin=rsandbox.PIPE, stdout=rsandbox.PIPE) as child:
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"through the box")
        child.stdin.close()
        assert child.stdout.read() == b"through the box"
        outcome = child.wait(timeout=10)
    assert outcome.success and child.returncode == 0


def test_stderr_into_stdout() -> None:
    r = rsandbox.run(
        ["/bin/sh", "-c", "echo out; echo err >&2"],
        sandbox=BOX,
        stdout=rsandbox.PIPE,
        stderr=rsandbox.STDOUT,
    )
    assert r.stdout == b"out\nerr\n" and r.stderr is None, r
    with pytest.raises(rsandbox.ConfigError, match="only for stderr"):
        rsandbox.run(["/bin/true"], sandbox=BOX, stdout=rsandbox.STDOUT)


def test_seccomp_oci_file(tmp_path: pathlib.Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": '
        '[{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}'
    )
    r = sh("mkdir /tmp/rsandbox-never-made-2", sandbox=BOX.seccomp_oci_file(profile))
    assert r.returncode != 0 and b"Permission denied" in r.stderr, r
    assert not os.path.exists("/tmp/rsandbox-never-made-2")


def test_capabilities() -> None:
    r = sh("grep CapEff /proc/self/status", sandbox=BOX.keep_caps(["CAP_NET_BIND_SERVICE"]))
    assert r.stdout.split()[1] == b"0000000000000400", r
    r = sh("grep CapEff /proc/self/status", sandbox=BOX.drop_caps())
    assert r.stdout.split()[1] == b"0000000000000000", r
    r = sh("grep NoNewPrivs /proc/self/status", sandbox=BOX.no_new_privs())
    assert r.stdout.split()[1] == b"1", r


def test_capability_sets() -> None:
    two = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    box = BOX.uid(0).gid(0)
    for which in ("bounding", "effective", "permitted"):
        box = box.cap_set(which, two)  # type: ignore[arg-type]
    r = sh("grep -E '^Cap(Inh|Eff|Bnd|Amb)' /proc/self/status", sandbox=box)
    got = dict(line.split(b":\t") for line in r.stdout.splitlines())
    assert got == {
        b"CapInh": b"0000000000000000",
        b"CapEff": b"0000000000000420",
        b"CapBnd": b"0000000000000420",
        b"CapAmb": b"0000000000000000",
    }, r
    with pytest.raises(rsandbox.ConfigError, match="permitted and inheritable"):
        rsandbox.run(["/bin/true"], sandbox=box.cap_set("ambient", two[:1]))
    with pytest.raises(rsandbox.ConfigError, match="cap_set"):
        BOX.cap_set("sideways", two)  # type: ignore[arg-type]


def test_overlay_discards_writes(tmp_path: pathlib.Path) -> None:
    (tmp_path / "f").write_text("lower\n")
    sb = BOX.overlay([tmp_path], "/mnt")
    r = sh("cat /mnt/f; echo upper > /mnt/f; cat /mnt/f; touch /mnt/new", sandbox=sb)
    assert r.stdout == b"lower\nupper\n", r
    assert (tmp_path / "f").read_text() == "lower\n"
    assert not (tmp_path / "new").exists()


def test_child_reports() -> None:
    with BOX.seccomp_default().spawn(["true"]) as child:
        layer = child.enforcement.layer("seccomp")
        assert layer is not None and layer.enforcement == "full"
        assert child.unapplied_limits == []
        outcome = child.wait(10)
    assert outcome.enforcement.fully_enforced
    assert '"reason":"exited"' in outcome.to_json()


def test_text_mode() -> None:
    r = rsandbox.run(
        ["/bin/sh", "-c", "cat; printf '\\377' >&2"],
        sandbox=BOX,
        input="héllo",
        text=True,
        capture_output=True,
        timeout=10,
    )
    assert r.stdout == "héllo"
    assert r.stderr == "\ufffd"


def test_features() -> None:
    f = rsandbox.features()
    assert f["kernel"] == os.uname().release
    assert "pid" in f["namespaces"] and f["seccomp"] is True
    assert f["landlock_abi"] == rsandbox.LANDLOCK_ABI


def test_pid_1_holds_nothing_of_the_python_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """The review's F3: PID 1 was a copy of the calling interpreter, its
    environment and memory readable from the box. Now it is the exec'd
    init, non-dumpable, with no capability and a filter of its own."""
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    secret_in_memory = b"caller-memory-" + os.urandom(8).hex().encode()
    r = rsandbox.run(
        [
            "/bin/sh",
            "-c",
            "cat /proc/1/environ /proc/1/mem 2>/dev/null; readlink /proc/1/fd/* 2>/dev/null; "
            "echo comm=$(cat /proc/1/comm) $(grep -E '^(Seccomp|CapEff):' /proc/1/status)",
        ],
        sandbox=rsandbox.Sandbox.strict(),
        capture_output=True,
    )
    assert r.returncode == 0, r
    assert b"hunter2" not in r.stdout
    assert secret_in_memory not in r.stdout
    assert b"comm=rsandbox-init" in r.stdout, r.stdout
    assert b"Seccomp: 2" in r.stdout and b"CapEff: 0000000000000000" in r.stdout, r.stdout


def test_cwd_through_a_process_fd_is_refused() -> None:
    """The review's F1: a cwd of /proc/self/fd/N left the box's root."""
    with pytest.raises(rsandbox.SandboxError, match="cwd"):
        rsandbox.run(["/bin/true"], sandbox=rsandbox.Sandbox.strict().cwd("/proc/self/fd/3"))
