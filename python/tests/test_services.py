"""Services, profiles and timing: socket activation (``listen_fd``),
published ports (``publish``, ``publish_listener``) reaching a server in a box
with an empty network namespace, profiles saved to and loaded from files and
TOML, and per-stage spawn timing. Rootless boxes only (they also work as
``nobody``)."""

from __future__ import annotations

import os
import pathlib
import socket
import subprocess

import pytest

import rsandbox
from conftest import sh

# The box's server: accepts one connection on fd 3 (socket activation) or on
# 127.0.0.1:PORT (argv[1]), says "ready" first, then what it sees of itself.
SERVER = """
import os, socket, sys
port = int(sys.argv[1])
if port:
    s = socket.socket()
    s.bind(("127.0.0.1", port))
    s.listen()
else:
    s = socket.socket(fileno=3)
print("ready", flush=True)
c, _ = s.accept()
ifs = sorted(l.split(":")[0].strip() for l in open("/proc/net/dev").readlines()[2:])
c.sendall(("pid=%d fds=%s lpid=%s ifs=%s" % (os.getpid(), os.environ.get("LISTEN_FDS"),
           os.environ.get("LISTEN_PID"), ",".join(ifs))).encode())
c.close()
"""

PRIVATE_NET = rsandbox.Sandbox().user_ns().pid_ns().net_ns().timeout(20)


def listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def serve_once(sb: rsandbox.Sandbox, box_port: int, via: int) -> str:
    """Run the server in `sb`, fetch from host port `via`, reap the box."""
    argv = ["/usr/bin/python3", "-c", SERVER, str(box_port)]
    with sb.spawn(argv, stdout=subprocess.PIPE) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        with socket.create_connection(("127.0.0.1", via), timeout=10) as c:
            body = b""
            while chunk := c.recv(4096):
                body += chunk
        assert child.wait(timeout=20).exit_code == 0
    return body.decode()


def test_socket_activation() -> None:
    with listener() as l:
        body = serve_once(PRIVATE_NET.listen_fd(l.fileno()), 0, l.getsockname()[1])
    # pid 2 in the box (the init is 1); only lo.
    assert body == "pid=2 fds=1 lpid=2 ifs=lo"


def test_published_ports() -> None:
    with listener() as l:
        sb = PRIVATE_NET.publish_listener(l.fileno(), 8080)
        assert serve_once(sb, 8080, l.getsockname()[1]) == "pid=2 fds=None lpid=None ifs=lo"
    for form in ("text", "tuple"):
        with listener() as l:
            port = l.getsockname()[1]  # free now, bound by the spawn
        host: str | tuple[str, int] = f"127.0.0.1:{port}" if form == "text" else ("127.0.0.1", port)
        body = serve_once(PRIVATE_NET.publish(host, 8080), 8080, port)
        assert body == "pid=2 fds=None lpid=None ifs=lo", form


def test_publish_bad_input() -> None:
    for host in ("localhost", "127.0.0.1", ("localhost", 80)):
        with pytest.raises(rsandbox.ConfigError) as e:
            rsandbox.Sandbox().publish(host, 80)
        assert e.value.field == "publish"
    with pytest.raises(OverflowError):
        rsandbox.Sandbox().publish("127.0.0.1:80", 70000)
    # The core's checks: a box without its own pid and network namespaces.
    with pytest.raises(rsandbox.ConfigError, match="pid_ns"):
        rsandbox.Sandbox().user_ns().net_ns().publish("127.0.0.1:1234", 80).validate()


def test_profiles(tmp_path: pathlib.Path) -> None:
    sb = rsandbox.Sandbox().user_ns().uts_ns().hostname("profiled").umask(0o77)
    for name in ("box.json", "box.toml"):
        sb.save(tmp_path / name)
        loaded = rsandbox.Sandbox.load(tmp_path / name)
        assert loaded == sb
        assert sh("uname -n; umask", sandbox=loaded).stdout == b"profiled\n0077\n"
    text = sb.to_toml()
    assert 'hostname = "profiled"' in text
    assert rsandbox.Sandbox.from_toml(text) == sb
    with pytest.raises(rsandbox.ConfigError, match=r"\.json or \.toml"):
        sb.save(tmp_path / "box.yaml")
    (tmp_path / "bad.toml").write_text("no_such_key = 1\n")
    with pytest.raises(rsandbox.ConfigError, match="no_such_key") as e:
        rsandbox.Sandbox.load(tmp_path / "bad.toml")
    assert str(tmp_path / "bad.toml") in str(e.value)
    with pytest.raises(rsandbox.SandboxOSError):
        rsandbox.Sandbox.load(tmp_path / "missing.json")
    with pytest.raises(rsandbox.ConfigError):
        rsandbox.Sandbox.from_toml("hostname = ")


def test_spawn_timing() -> None:
    sb = rsandbox.Sandbox().user_ns().mount_ns()
    with sb.record_timing().spawn(["/bin/true"]) as child:
        timing = child.spawn_timing
        child.wait(timeout=10)
    assert timing is not None
    names = [name for name, _ in timing]
    assert names[-1] == "exec" and "mounts" in names, names
    assert all(secs >= 0 for _, secs in timing)
    assert 0 < sum(secs for _, secs in timing) < 10
    if os.environ.get("RSANDBOX_TIMING") != "1":  # else on for every box
        with sb.spawn(["/bin/true"]) as child:
            assert child.spawn_timing is None
            child.wait(timeout=10)
