"""Exceptions: classes, attributes and messages."""

from __future__ import annotations

import errno
import pathlib

import pytest

import rsandbox
from conftest import BOX


def test_config_error_is_value_error() -> None:
    with pytest.raises(rsandbox.ConfigError) as ei:
        rsandbox.Sandbox().memory_limit(0).validate()
    e = ei.value
    assert isinstance(e, ValueError) and isinstance(e, rsandbox.SandboxError)
    assert e.field == "memory_limit"
    assert "memory_limit" in str(e) and "minimum" in str(e)
    # spawn validates first: nothing is spawned.
    with pytest.raises(ValueError):
        rsandbox.Sandbox().memory_limit(0).spawn(["true"])


@pytest.mark.parametrize(
    "make",
    [
        lambda: rsandbox.Sandbox().timeout(0),
        lambda: rsandbox.Sandbox().timeout(float("nan")),
        lambda: rsandbox.Sandbox().timeout(-1),
        lambda: rsandbox.Sandbox().memory_limit(-5),
        lambda: rsandbox.Sandbox().rlimit("bogus", 1),
        lambda: rsandbox.Sandbox.from_json("{not json"),
        lambda: rsandbox.Sandbox().hostname("x" * 100).validate(),
        lambda: rsandbox.Sandbox().spawn([]),
    ],
)
def test_invalid_values_are_config_errors(make: object) -> None:
    with pytest.raises(rsandbox.ConfigError) as ei:
        make()  # type: ignore[operator]
    assert isinstance(ei.value, ValueError)
    assert str(ei.value).startswith("invalid ")


def test_rlimit_names_listed() -> None:
    with pytest.raises(ValueError, match="nofile"):
        rsandbox.Sandbox().rlimit("bogus", 1)


def test_program_not_found() -> None:
    with pytest.raises(rsandbox.ProgramNotFoundError) as ei:
        rsandbox.run(["/nonexistent/program"], sandbox=BOX)
    e = ei.value
    assert isinstance(e, FileNotFoundError) and isinstance(e, rsandbox.SpawnError)
    assert isinstance(e, OSError) and isinstance(e, rsandbox.SandboxError)
    assert e.errno == errno.ENOENT
    assert e.filename == "/nonexistent/program"
    assert e.stage == "execve"
    assert "/nonexistent/program" in str(e)


def test_spawn_error_names_the_stage() -> None:
    # A directory under a dangling symlink: only the child can find out.
    sb = BOX.tmpfs("/x", 1 << 20).symlink("/nonexistent", "/x/link").dir("/x/link/sub")
    with pytest.raises(rsandbox.SpawnError) as ei:
        rsandbox.run(["true"], sandbox=sb)
    e = ei.value
    assert isinstance(e, OSError) and not isinstance(e, FileNotFoundError)
    assert e.errno == errno.ENOENT
    assert e.stage == "mount"
    assert e.filename == "/x/link/sub"
    assert isinstance(e.detail, int)
    assert "stage 'mount'" in str(e)


def test_config_error_before_spawn_names_the_field() -> None:
    with pytest.raises(rsandbox.ConfigError) as ei:
        rsandbox.run(["true"], sandbox=BOX.cwd("/nonexistent-dir"))
    assert ei.value.field == "cwd"


def test_type_errors() -> None:
    with pytest.raises(TypeError, match="value must be str"):
        rsandbox.Sandbox().env("A", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rsandbox.Sandbox().envs({"A": b"bytes"})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        rsandbox.Sandbox().cwd(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        rsandbox.Sandbox().spawn([1, 2])  # type: ignore[list-item]


def test_run_argument_conflicts() -> None:
    with pytest.raises(ValueError):
        rsandbox.run(["true"], input=b"x", stdin=rsandbox.DEVNULL)
    with pytest.raises(ValueError):
        rsandbox.run(["true"], capture_output=True, stdout=rsandbox.PIPE)


def test_pathlike_and_bytes_programs(tmp_path: pathlib.Path) -> None:
    r = rsandbox.run([pathlib.Path("/bin/echo"), b"bytes", "str"], sandbox=BOX, capture_output=True)
    assert r.stdout == b"bytes str\n"
    # A single program, as subprocess accepts.
    assert rsandbox.run("/bin/true", sandbox=BOX).returncode == 0
