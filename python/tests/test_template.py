"""Templates from Python: a Python payload that imported its modules waits
in ``rsandbox.serve_forks()``; each ``Template.fork(arg)`` returns from it
with ``arg`` in a box of its own stdout and exit status, with the
template's state at the ready point and Python's after-fork work done
(``random`` reseeded). Bad input raises typed errors."""

from __future__ import annotations

import errno
import json
import os
import sys
import textwrap
from collections.abc import Iterator
from typing import Any
from pathlib import Path

import pytest

import rsandbox
from conftest import BOX, pidfd_ended

# The template payload: imports, sets state, serves; each fork reports what
# it sees as one JSON line and exits with its argument (100: sleeps; 60:
# fills 512 MiB first).
SERVE = textwrap.dedent(
    """
    import decimal, json, os, random, re, sys, time
    import rsandbox

    state = {"ready": str(decimal.Decimal("0.1") * 3), "words": re.findall(r"\\w+", "a b")}
    arg = rsandbox.serve_forks()
    if arg == 100:
        time.sleep(60)
    if arg == 60:
        hog = b"\\1" * (512 << 20)
    seen = dict(state)
    state["ready"] = "changed in a fork"
    print(json.dumps({"arg": arg, "state": seen, "pid": os.getpid(),
                      "ppid": os.getppid(), "random": random.random()}))
    sys.stdout.flush()
    os._exit(arg)
    """
)


@pytest.fixture
def template() -> Iterator[rsandbox.Template]:
    with rsandbox.Sandbox().template([sys.executable, "-c", SERVE]) as t:
        yield t


def _run(t: rsandbox.Template, arg: int) -> dict[str, object]:
    with t.fork(arg, stdout=rsandbox.PIPE) as f:
        assert f.stdout is not None and f.arg == arg
        out: dict[str, object] = json.loads(f.stdout.read())
        assert f.wait(timeout=20) == arg
        assert f.returncode == arg and f.poll() == arg
        out["fork_pid"] = f.pid
    return out


def test_forks_return_their_argument_with_the_ready_state(template: rsandbox.Template) -> None:
    a = _run(template, 7)
    b = _run(template, 9)
    want = {"ready": "0.3", "words": ["a", "b"]}
    assert a["arg"] == 7 and b["arg"] == 9
    # Each fork sees the template's state at its ready point; a write in
    # one fork is not seen by the next.
    assert a["state"] == want and b["state"] == want
    assert a["pid"] == a["fork_pid"] and b["pid"] == b["fork_pid"]
    assert len({a["pid"], b["pid"], template.pid}) == 3
    assert a["ppid"] == b["ppid"] == template.pid  # the template forked them
    # Python's after-fork hooks ran: random was reseeded in each fork.
    assert a["random"] != b["random"]


def test_kill_timeout_and_close(template: rsandbox.Template) -> None:
    f = template.fork(100, stdout=rsandbox.DEVNULL)
    with pytest.raises(rsandbox.TimeoutExpired):
        f.wait(timeout=0.2)
    assert f.poll() is None and f.returncode is None
    f.kill()
    assert f.wait(timeout=20) == -9
    f.kill()  # a no-op once waited for
    # The template is let go: later forks raise, and its process ends once
    # its last fork handle is gone too.
    del f
    fd = os.pidfd_open(template.pid)
    try:
        template.close()
        assert template.closed
        with pytest.raises(ValueError, match="closed"):
            template.fork(1)
        assert pidfd_ended(fd, wait=10)
    finally:
        os.close(fd)


def test_forks_of_a_template_with_limits_have_cgroup_stats() -> None:
    # Each fork of a template with a memory limit gets a cgroup of its own:
    # one filling 512 MiB under 64 MiB is killed and counted as an OOM kill;
    # a small one is not. Root only: cgroups.
    if os.getuid() != 0:
        pytest.skip("cgroups need root here")
    sb = rsandbox.Sandbox().memory_limit(64 << 20)
    with sb.template([sys.executable, "-c", SERVE]) as t:
        with t.fork(60, stdout=rsandbox.DEVNULL) as f:
            assert f.cgroup_stats is None  # not waited for yet
            assert f.wait(timeout=20) == -9
            hog = f.cgroup_stats
        with t.fork(7, stdout=rsandbox.DEVNULL) as f:
            assert f.wait(timeout=20) == 7
            small = f.cgroup_stats
    assert isinstance(hog, rsandbox.CgroupStats)
    assert hog.oom_kills is not None and hog.oom_kills >= 1
    assert hog.memory_peak is not None and hog.memory_peak <= (64 << 20) + 65536
    assert small is not None and small.oom_kills == 0
    assert small.cpu_time is not None and small.cpu_time > 0
    assert "oom_kills=0" in repr(small)


def test_forks_of_a_template_without_limits_have_no_cgroup(
    template: rsandbox.Template,
) -> None:
    with template.fork(7, stdout=rsandbox.DEVNULL) as f:
        assert f.wait(timeout=20) == 7
        assert f.cgroup_stats is None


def _with_this_python(sb: rsandbox.Sandbox) -> rsandbox.Sandbox:
    """`sb` with this interpreter's venv and the package's sources bound
    read-only where they are: a checkout under /tmp (CI's copy) is hidden by
    the box's own /tmp."""
    dirs = sorted({sys.prefix, *(p for p in sys.path if p and os.path.isdir(p))})
    under_tmp = [d for d in dirs if d.startswith("/tmp/")]
    tops = [d for d in under_tmp if not any(d.startswith(o + "/") for o in under_tmp)]
    for d in tops:
        sb = sb.ro_bind(d, d)
    return sb


def test_a_template_in_namespaces() -> None:
    with _with_this_python(BOX).template([sys.executable, "-c", SERVE]) as t:
        out = _run(t, 5)
    # In the box's PID namespace: rsandbox's init is 1, the template 2.
    assert out["ppid"] == 2 and out["pid"] not in (1, 2)
    assert out["state"] == {"ready": "0.3", "words": ["a", "b"]}


# Namespaced forks report who they are: pids they see, their namespaces.
NS = ("net", "uts", "ipc", "mnt", "user", "pid")
WHOAMI = textwrap.dedent(
    """
    import json, os, sys
    import rsandbox

    arg = rsandbox.serve_forks()
    ns = {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in %r}
    print(json.dumps({"arg": arg, "pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid(),
                      "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                      "ns": ns}))
    sys.stdout.flush()
    os._exit(0)
    """
    % (NS,)
)


def _whoami(t: rsandbox.Template, arg: int) -> dict[str, Any]:
    with t.fork(arg, stdout=rsandbox.PIPE) as f:
        assert f.stdout is not None
        out: dict[str, Any] = json.loads(f.stdout.read())
        assert f.wait(timeout=20) == 0
        pid_ns = f.enforcement.layer("namespace:pid")
        out["own_pid_ns_reported"] = pid_ns is not None and "made by the fork" in pid_ns.applied
        note = f.enforcement.layer("template")
        assert note is not None and note.applied.startswith("forked from a template box")
    return out


def test_namespaced_forks_see_only_themselves() -> None:
    sb = rsandbox.Sandbox()
    with sb.template([sys.executable, "-c", WHOAMI], fork_namespaces=True) as t:
        a, b = _whoami(t, 1), _whoami(t, 2)
        tpl = {n: os.stat(f"/proc/{t.pid}/ns/{n}").st_ino for n in NS}
        own = t.enforcement.layer("template")
        assert own is not None and "namespaces of their own" in own.applied
    for w, arg in ((a, 1), (b, 2)):
        # pid 1 of its own pid namespace, its parent (the template) outside
        # it, alone in its /proc; its uid mapped to itself.
        assert (w["arg"], w["pid"], w["ppid"], w["procs"]) == (arg, 1, 0, [1]), w
        assert w["uid"] == os.getuid()
        # The fork's enforcement report says what it saw from inside.
        assert w["own_pid_ns_reported"], w
    # Every namespace differs from the template's and from the sibling's.
    for n in NS:
        assert a["ns"][n] != tpl[n], f"{n} shared with the template"
        assert a["ns"][n] != b["ns"][n], f"{n} shared by two forks"
    # Without the option a fork shares the template's namespaces.
    with sb.template([sys.executable, "-c", WHOAMI]) as t:
        c = _whoami(t, 3)
        assert c["pid"] > 1 and c["ppid"] == t.pid
        assert c["ns"]["net"] == os.stat(f"/proc/{t.pid}/ns/net").st_ino
        assert not c["own_pid_ns_reported"], c


PROC_VIEW = textwrap.dedent(
    """
    import decimal, json, os, re, stat, sys
    import rsandbox

    arg = rsandbox.serve_forks()
    masked = {}
    for name in ("keys", "timer_list", "interrupts", "kcore", "sched_debug"):
        try:
            masked[name] = stat.S_ISCHR(os.stat(f"/proc/{name}").st_mode)
        except FileNotFoundError:
            pass
    try:
        open("/proc/self/comm", "w")
        comm = 0
    except OSError as e:
        comm = e.errno
    print(json.dumps({"procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                      "ro": bool(os.statvfs("/proc").f_flag & os.ST_RDONLY),
                      "masked": masked, "comm": comm,
                      "sum": str(sum(decimal.Decimal(w) for w in re.findall(r"[0-9.]+", "0.1 0.2")))}))
    sys.stdout.flush()
    os._exit(0)
    """
)


def test_a_strict_template_forks_with_a_masked_read_only_proc() -> None:
    # The strict preset masks the box's /proc; each namespaced fork mounts
    # its own, read-only, with the same entries masked (docs/template.md).
    on_host = {n for n in ("keys", "timer_list", "interrupts", "kcore", "sched_debug")
               if os.path.exists(f"/proc/{n}")}
    assert on_host, "this kernel has none of the masked entries"
    sb = _with_this_python(rsandbox.Sandbox.strict())
    with sb.template([sys.executable, "-c", PROC_VIEW], fork_namespaces=True) as t:
        for arg in (1, 2):
            with t.fork(arg, stdout=rsandbox.PIPE) as f:
                assert f.stdout is not None
                out = json.loads(f.stdout.read())
                assert f.wait(timeout=20) == 0
                mnt = f.enforcement.layer("namespace:mnt")
                assert mnt is not None and "read-only /proc" in mnt.applied
            assert out["procs"] == [1] and out["ro"], out
            assert out["masked"] == {n: True for n in on_host}, out
            assert out["comm"] == errno.EROFS and out["sum"] == "0.3", out


READ_ETC = textwrap.dedent(
    """
    import os, sys
    import rsandbox

    arg = rsandbox.serve_forks()
    try:
        open("/etc/hostname").read()
        print("read ok")
    except OSError as e:
        print(f"errno {e.errno}")
    sys.stdout.flush()
    os._exit(0)
    """
)


def test_landlock_applies_in_namespaced_forks() -> None:
    # The template box runs without the Landlock layer (its domain would
    # refuse each fork's /proc mount); each fork applies it itself.
    python = os.path.realpath(sys.executable)
    sb = rsandbox.Sandbox().landlock_exec("/usr").landlock_exec("/lib").landlock_read("/dev/null")
    sb = sb.landlock_exec(os.path.dirname(python))
    with sb.template([sys.executable, "-c", READ_ETC], fork_namespaces=True) as t:
        for arg in (1, 2):
            with t.fork(arg, stdout=rsandbox.PIPE) as f:
                assert f.stdout is not None
                assert f.stdout.read().decode() == f"errno {errno.EACCES}\n"
                assert f.wait(timeout=20) == 0
                mine = f.enforcement.layer("landlock")
                assert mine is not None and mine.enforcement == "full", mine
        boxed = t.enforcement.layer("landlock")
        assert boxed is not None and "each fork applies it" in boxed.applied


def test_namespaced_forks_of_a_root_box_keeping_cap_sys_admin_are_refused() -> None:
    # The default seccomp profile relaxed for the forks' clone and mounts
    # would reach the host's mount namespace from a box that keeps
    # CAP_SYS_ADMIN: a typed error; with the caps dropped it works.
    if os.getuid() != 0:
        pytest.skip("a rootless box holds no CAP_SYS_ADMIN over the host")
    sb = rsandbox.Sandbox().seccomp_default()
    with pytest.raises(rsandbox.ConfigError) as e:
        sb.template([sys.executable, "-c", WHOAMI], fork_namespaces=True)
    assert e.value.field == "template: fork_namespaces"
    with sb.drop_caps().template([sys.executable, "-c", WHOAMI], fork_namespaces=True) as t:
        assert _whoami(t, 4)["pid"] == 1


def test_bad_templates_raise_typed_errors() -> None:
    sb = rsandbox.Sandbox()
    with pytest.raises(rsandbox.SandboxOSError, match="gone"):
        sb.template(["/bin/true"])
    with pytest.raises(rsandbox.SandboxOSError, match="never called serve_forks"):
        sb.template(["/bin/sleep", "30"], ready_timeout=0.2)
    with pytest.raises(rsandbox.ProgramNotFoundError):
        sb.template(["/no/such/program"])
    with sb.template([sys.executable, "-c", SERVE]) as t:
        with pytest.raises(ValueError, match="STDOUT"):
            t.fork(1, stdout=rsandbox.STDOUT)
        with pytest.raises(OverflowError):
            t.fork(-1)


def test_serve_forks_refuses_while_other_threads_run(tmp_path: Path) -> None:
    # The payload starts a thread, then calls serve_forks: it raises and the
    # template exits before its ready point.
    script = "import threading, time, rsandbox\n" \
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n" \
        "rsandbox.serve_forks()\n"
    with open(tmp_path / "err", "w+b") as err:
        with pytest.raises(rsandbox.SandboxOSError, match="gone"):
            rsandbox.Sandbox().template([sys.executable, "-c", script], stderr=err)
        err.seek(0)
        assert b"RuntimeError: serve_forks: other threads are running" in err.read()
    with pytest.raises(ValueError, match="PIPE"):
        rsandbox.Sandbox().template([sys.executable, "-c", SERVE], stdout=rsandbox.PIPE)


def test_serve_forks_outside_a_template() -> None:
    assert "RSANDBOX_TEMPLATE_FD" not in os.environ
    with pytest.raises(rsandbox.SandboxOSError, match="not started as a template"):
        rsandbox.serve_forks()
