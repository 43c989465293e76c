"""The exceptions of rsandbox.

Every exception raised by the library derives from :class:`SandboxError`, and
also from the builtin a caller would naturally catch:

- :class:`ConfigError` (``ValueError``): the description is invalid; nothing
  was spawned.
- :class:`SandboxPermissionError` (``PermissionError``): a privilege is
  missing; the message says how to get it or avoid needing it.
- :class:`UnsupportedError` (``OSError``): this kernel lacks a feature.
- :class:`SandboxOSError` (``OSError``): a host-side operation failed;
  :class:`SpawnError` when the child failed at a stage between clone and
  exec (``stage`` names it); :class:`ProgramNotFoundError`
  (``FileNotFoundError``) when the program does not exist in the box.
- :class:`TimeoutExpired` (``subprocess.TimeoutExpired``): ``Child.wait``
  with a timeout that passed.
- :class:`CalledProcessError` (``subprocess.CalledProcessError``): ``run``
  with ``check=True`` and a payload that did not succeed.

This module is plain Python so these classes can have two bases; the
compiled module raises them.
"""

from __future__ import annotations

import errno as _errno
import subprocess
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._rsandbox import Outcome
    from ._run import RunResult

__all__ = [
    "SandboxError",
    "ConfigError",
    "SandboxPermissionError",
    "UnsupportedError",
    "SandboxOSError",
    "SpawnError",
    "ProgramNotFoundError",
    "TimeoutExpired",
    "CalledProcessError",
]


class SandboxError(Exception):
    """Base class of every rsandbox exception."""


class ConfigError(SandboxError, ValueError):
    """The sandbox description is invalid (nothing was spawned)."""

    field: str
    reason: str

    def __init__(self, message: str, *, field: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class SandboxPermissionError(SandboxError, PermissionError):
    """The caller lacks a privilege the description needs; ``fix`` (also in
    the message) says how to obtain it or avoid needing it."""

    privilege: str
    action: str
    fix: str

    def __init__(
        self, message: str, *, privilege: str = "", action: str = "", fix: str = ""
    ) -> None:
        super().__init__(_errno.EPERM, message)
        self.privilege = privilege
        self.action = action
        self.fix = fix

    def __str__(self) -> str:
        return str(self.strerror)


class UnsupportedError(SandboxError, OSError):
    """The kernel (or this machine) lacks a feature the description needs."""

    feature: str
    detail: str

    def __init__(self, message: str, *, feature: str = "", detail: str = "") -> None:
        super().__init__(_errno.EOPNOTSUPP, message)
        self.feature = feature
        self.detail = detail

    def __str__(self) -> str:
        return str(self.strerror)


class SandboxOSError(SandboxError, OSError):
    """A system call failed. ``errno`` and ``filename`` as for ``OSError``;
    ``op`` says what was being done (host side), ``stage`` at which stage of
    the launch pipeline the child failed (``None`` on the host side)."""

    op: str | None
    stage: str | None
    detail: int | None

    def __init__(
        self,
        errno: int | None,
        message: str,
        filename: str | None = None,
        *,
        op: str | None = None,
        stage: str | None = None,
        detail: int | None = None,
    ) -> None:
        if filename is None:
            super().__init__(errno, message)
        else:
            super().__init__(errno, message, filename)
        self.op = op
        self.stage = stage
        self.detail = detail

    def __str__(self) -> str:
        return str(self.strerror)


class SpawnError(SandboxOSError):
    """The child failed between clone and exec; ``stage`` names the stage
    (``"mount"``, ``"setrlimit"``, ``"execve"``...)."""


class ProgramNotFoundError(SpawnError, FileNotFoundError):
    """The program does not exist in the box (``filename`` is the program)."""


class TimeoutExpired(SandboxError, subprocess.TimeoutExpired):
    """``Child.wait(timeout=...)`` returned before the sandbox ended (the
    sandbox keeps running)."""

    def __init__(self, cmd: Any, timeout: float | None) -> None:
        subprocess.TimeoutExpired.__init__(self, cmd, timeout if timeout is not None else 0.0)


class CalledProcessError(SandboxError, subprocess.CalledProcessError):
    """``run(..., check=True)`` and the payload did not exit with code 0.

    ``returncode`` follows ``subprocess`` (``-N`` for signal N); ``reason``
    says how it ended (``"wall_time_limit"``, ``"out_of_memory"``...);
    ``result`` is the whole :class:`~rsandbox.RunResult`."""

    result: RunResult[Any]
    reason: str

    def __init__(self, result: RunResult[Any]) -> None:
        subprocess.CalledProcessError.__init__(
            self, result.returncode, result.args, result.stdout, result.stderr
        )
        self.result = result
        self.reason = result.reason

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome

    def __str__(self) -> str:
        base = subprocess.CalledProcessError.__str__(self)
        return f"{base} (reason: {self.reason})"
