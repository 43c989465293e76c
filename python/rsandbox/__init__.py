"""rsandbox: run commands in Linux sandboxes built from kernel primitives.

>>> import rsandbox
>>> sb = rsandbox.Sandbox().user_ns().pid_ns().mount_ns().net_ns()
>>> r = rsandbox.run(["/bin/echo", "hi"], sandbox=sb, capture_output=True, timeout=5)
>>> r.returncode, r.stdout
(0, b'hi\\n')

``Sandbox`` is an immutable builder (each method returns a new one) over the
Rust core; ``Sandbox.spawn`` returns a :class:`Child`; :func:`run` has the
shape of ``subprocess.run``. Waiting releases the GIL and Ctrl-C kills the
sandbox. Exceptions derive from :class:`SandboxError` (see
``rsandbox._errors``).
"""

from __future__ import annotations

import json as _json
import subprocess as _subprocess
from typing import Any as _Any

from ._errors import (
    CalledProcessError,
    ConfigError,
    ProgramNotFoundError,
    SandboxError,
    SandboxOSError,
    SandboxPermissionError,
    SpawnError,
    TimeoutExpired,
    UnsupportedError,
)
from ._rsandbox import (
    LANDLOCK_ABI,
    _features_json,
    _serve_forks,
    UNLIMITED,
    CgroupStats,
    Child,
    DeviceRule,
    Egress,
    EnforcementReport,
    ForkedBox,
    LayerReport,
    NetNs,
    Outcome,
    Pool,
    Sandbox,
    Template,
    Violation,
    Violations,
    __version__,
)
from ._run import Argv, RunResult, StdioArg, StrPath, run

PIPE: int = _subprocess.PIPE
"""Connect the stream to a pipe (a file object on the :class:`Child`)."""
DEVNULL: int = _subprocess.DEVNULL
"""Connect the stream to ``/dev/null``."""
STDOUT: int = _subprocess.STDOUT
"""For ``stderr`` only: send it wherever stdout goes (the shell's ``2>&1``)."""



def serve_forks() -> int:
    """The payload side of a template (``Sandbox.template``): call it at the
    program's ready point, once it has imported and set up what its forks
    need. In the template it does not return while the caller holds the
    :class:`Template` (when the caller closes it, the template kills its
    forks and exits 0). In each fork (``Template.fork(arg)``) it returns
    ``arg``, with stdin, stdout and stderr the fork's own (``sys.stdout``
    writes to them) and Python's after-fork work done as after
    ``os.fork()``. Every layer of the box's description applies to the fork.

    Raises :class:`SandboxOSError` when the program was not started as a
    template, and ``RuntimeError`` when other threads run (a fork would keep
    only the calling thread). Buffered output is flushed first, so a fork
    does not repeat it.
    """
    import os
    import sys
    import threading

    # (Not a template at all: _serve_forks says so, whatever the threads.)
    if "RSANDBOX_TEMPLATE_FD" in os.environ and threading.active_count() > 1:
        raise RuntimeError(
            "serve_forks: other threads are running; a fork keeps only the calling thread"
        )
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    return _serve_forks()


def features() -> dict[str, _Any]:
    """What this machine offers for sandboxing, probed now: kernel, the
    namespaces (and whether this user can create a user namespace),
    seccomp, the Landlock ABI, pidfd/clone3, the cgroup layout and mounts."""
    result: dict[str, _Any] = _json.loads(_features_json())
    return result


__all__ = [
    "features",
    "Sandbox",
    "NetNs",
    "DeviceRule",
    "Egress",
    "Violation",
    "Violations",
    "Child",
    "Outcome",
    "Template",
    "ForkedBox",
    "CgroupStats",
    "Pool",
    "serve_forks",
    "EnforcementReport",
    "LayerReport",
    "RunResult",
    "run",
    "PIPE",
    "DEVNULL",
    "STDOUT",
    "UNLIMITED",
    "LANDLOCK_ABI",
    "SandboxError",
    "ConfigError",
    "SandboxPermissionError",
    "UnsupportedError",
    "SandboxOSError",
    "SpawnError",
    "ProgramNotFoundError",
    "TimeoutExpired",
    "CalledProcessError",
    "StrPath",
    "Argv",
    "StdioArg",
    "__version__",
]
