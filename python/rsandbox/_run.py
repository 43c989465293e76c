"""``rsandbox.run``: the shape of ``subprocess.run``, in a sandbox."""

from __future__ import annotations

import errno
import os
import selectors
from collections.abc import Sequence
from datetime import timedelta
from typing import IO, Any, Generic, Literal, TypeVar, Union, overload

from ._errors import CalledProcessError
from ._rsandbox import Child, EnforcementReport, Outcome, Sandbox

__all__ = ["run", "RunResult", "StrPath", "Argv", "StdioArg"]

StrPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
"""A path: ``str``, ``bytes`` or ``os.PathLike``."""

Argv = Union[StrPath, Sequence[StrPath]]
"""A command: a sequence of arguments, or a single program."""

StdioArg = Union[None, int, IO[Any]]
"""``None`` (inherit), ``PIPE``, ``DEVNULL``, an fd, or a file object."""

_CHUNK = 64 * 1024

_T = TypeVar("_T", bytes, str)


class RunResult(Generic[_T]):
    """What ``run`` returns: like ``subprocess.CompletedProcess``, plus how
    the sandbox ended, what it used and what it enforced (``outcome``).
    ``stdout``/``stderr`` are ``bytes``, or ``str`` with ``text=True``."""

    args: Argv
    returncode: int
    stdout: _T | None
    stderr: _T | None
    outcome: Outcome

    def __init__(self, args: Argv, outcome: Outcome, stdout: _T | None, stderr: _T | None) -> None:
        self.args = args
        self.outcome = outcome
        self.returncode = outcome.returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def reason(self) -> str:
        """How it ended: ``"exited"``, ``"signaled"``, ``"wall_time_limit"``,
        ``"cpu_time_limit"``, ``"out_of_memory"``, ``"seccomp_violation"``
        or ``"killed"``."""
        return self.outcome.reason

    @property
    def success(self) -> bool:
        return self.outcome.success

    @property
    def timed_out(self) -> bool:
        return self.outcome.timed_out

    @property
    def oom_killed(self) -> bool:
        return self.outcome.oom_killed

    @property
    def cpu_time_exceeded(self) -> bool:
        return self.outcome.cpu_time_exceeded

    @property
    def seccomp_violation(self) -> bool:
        return self.outcome.seccomp_violation

    @property
    def signal(self) -> int | None:
        return self.outcome.signal

    @property
    def wall_time(self) -> float:
        return self.outcome.wall_time

    @property
    def cpu_time(self) -> float:
        return self.outcome.cpu_time

    @property
    def memory_peak(self) -> int | None:
        return self.outcome.memory_peak

    @property
    def max_rss(self) -> int:
        return self.outcome.max_rss

    @property
    def enforcement(self) -> EnforcementReport:
        return self.outcome.enforcement

    def check_returncode(self) -> None:
        """Raise :class:`CalledProcessError` unless the payload exited with 0."""
        if not self.outcome.success:
            raise CalledProcessError(self)

    def __repr__(self) -> str:
        parts = [f"args={self.args!r}", f"returncode={self.returncode}", f"reason={self.reason!r}"]
        if self.stdout is not None:
            parts.append(f"stdout={self.stdout!r}")
        if self.stderr is not None:
            parts.append(f"stderr={self.stderr!r}")
        return f"RunResult({', '.join(parts)})"


@overload
def run(
    args: Argv,
    *,
    sandbox: Sandbox | None = None,
    input: bytes | None = None,
    capture_output: bool = False,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    timeout: float | timedelta | None = None,
    check: bool = False,
    text: Literal[False] = False,
) -> RunResult[bytes]: ...


@overload
def run(
    args: Argv,
    *,
    sandbox: Sandbox | None = None,
    input: str | None = None,
    capture_output: bool = False,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    timeout: float | timedelta | None = None,
    check: bool = False,
    text: Literal[True],
) -> RunResult[str]: ...


def run(
    args: Argv,
    *,
    sandbox: Sandbox | None = None,
    input: bytes | str | None = None,
    capture_output: bool = False,
    stdin: StdioArg = None,
    stdout: StdioArg = None,
    stderr: StdioArg = None,
    timeout: float | timedelta | None = None,
    check: bool = False,
    text: bool = False,
) -> RunResult[bytes] | RunResult[str]:
    """Run ``args`` in ``sandbox`` and wait for it. Without ``sandbox``, the
    payload runs in ``Sandbox.strict()`` (every namespace, the default root
    view, no capability, no_new_privs, the default seccomp profile): a
    function named ``run`` in a sandboxing library sandboxes. ``Sandbox()``
    itself is a plain builder, as in Rust and C: it isolates nothing until
    layers are added, so pass ``sandbox=`` to relax or tighten the box.

    Like ``subprocess.run``: ``input`` is fed to stdin, ``capture_output``
    pipes stdout and stderr (read concurrently, so neither can fill up and
    block the payload). ``timeout`` (seconds) becomes the sandbox's
    wall-clock limit: when it passes the whole tree is killed and the result
    says ``timed_out`` (no exception, unless ``check``). With ``check=True``
    any outcome but exit code 0 raises :class:`CalledProcessError`.
    ``text=True``: ``input`` is a ``str`` and the output is decoded, both as
    UTF-8 (undecodable output bytes become U+FFFD: the payload is untrusted).
    Ctrl-C kills the sandbox and raises ``KeyboardInterrupt``.
    """
    sb = sandbox if sandbox is not None else Sandbox.strict()
    if timeout is not None:
        sb = sb.timeout(timeout)
    if input is not None:
        if stdin is not None:
            raise ValueError("stdin and input arguments may not both be used.")
        stdin = -1
    if capture_output:
        if stdout is not None or stderr is not None:
            raise ValueError("stdout and stderr arguments may not be used with capture_output.")
        stdout = stderr = -1
    data = input.encode() if isinstance(input, str) else input
    with sb.spawn(args, stdin=stdin, stdout=stdout, stderr=stderr) as child:
        out, err = _communicate(child, data)
        outcome = child.wait()
    result: RunResult[bytes] | RunResult[str]
    if text:
        result = RunResult(args, outcome, _decode(out), _decode(err))
    else:
        result = RunResult(args, outcome, out, err)
    if check:
        result.check_returncode()
    return result


def _decode(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", "replace")


def _communicate(child: Child, input: bytes | None) -> tuple[bytes | None, bytes | None]:
    """Feed ``input`` and read stdout/stderr until they close or the sandbox
    ends, enforcing the sandbox's deadline meanwhile (``poll()`` at it)."""
    bufs: dict[int, list[bytes]] = {}
    sel = selectors.DefaultSelector()
    stdin_fd = -1
    try:
        if child.stdin is not None:
            if input:
                stdin_fd = child.stdin.fileno()
                os.set_blocking(child.stdin.fileno(), False)
                sel.register(child.stdin.fileno(), selectors.EVENT_WRITE)
            else:
                _close_quietly(child.stdin)
        for f in (child.stdout, child.stderr):
            if f is not None:
                bufs[f.fileno()] = []
                sel.register(f.fileno(), selectors.EVENT_READ)
        pidfd = child.fileno()
        sel.register(pidfd, selectors.EVENT_READ)
        view = memoryview(input or b"")
        while len(sel.get_map()) > 1:
            events = sel.select(child._next_deadline())
            ended = False
            for key, _ in events:
                fd = key.fd
                if fd == pidfd:
                    ended = True
                elif fd == stdin_fd:
                    try:
                        n = os.write(fd, view[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except BrokenPipeError:
                        n = len(view)
                    view = view[n:]
                    if not view:
                        sel.unregister(fd)
                        if child.stdin is not None:
                            _close_quietly(child.stdin)
                else:
                    data = os.read(fd, _CHUNK)
                    if data:
                        bufs[fd].append(data)
                    else:
                        sel.unregister(fd)
            if ended or not events:
                # The sandbox ended, or its deadline is due: poll() reaps it or
                # enforces the limit. Once it has ended, take what is left in
                # the pipes without waiting for writers that outlive it.
                if child.poll() is not None:
                    for fd in bufs:
                        if fd in sel.get_map():
                            _drain(fd, bufs[fd])
                    break
    finally:
        sel.close()
    out = b"".join(bufs[child.stdout.fileno()]) if child.stdout is not None else None
    err = b"".join(bufs[child.stderr.fileno()]) if child.stderr is not None else None
    return out, err


def _drain(fd: int, buf: list[bytes]) -> None:
    os.set_blocking(fd, False)
    while True:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno == errno.EAGAIN:
                return
            raise
        if not data:
            return
        buf.append(data)


def _close_quietly(f: IO[Any]) -> None:
    try:
        f.close()
    except BrokenPipeError:
        pass
