"""A typed use of rsandbox, checked with ``mypy --strict`` in CI.

Run it: ``python python/examples/typed_example.py`` (needs root or
unprivileged user namespaces).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import rsandbox
from rsandbox import Outcome, RunResult, Sandbox


def judge(source: Path, stdin: bytes) -> RunResult[bytes]:
    """Run a program the way an online judge would."""
    box: Sandbox = (
        Sandbox()
        .user_ns()
        .pid_ns()
        .mount_ns()
        .net_ns()
        .ipc_ns()
        .uts_ns()
        .hostname("judge")
        .env("LANG", "C.UTF-8")
        .cwd("/")
        .memory_limit(256 * 1024 * 1024)
        .pids_limit(16)
        .rlimit_nofile(64)
        .rlimit("fsize", 1 << 20)
        .cpu_time_limit(2.0)
        .no_new_privs()
    )
    return rsandbox.run(
        ["/bin/sh", source], sandbox=box, input=stdin, capture_output=True, timeout=5
    )


def describe(result: RunResult[bytes]) -> str:
    report = result.enforcement
    gaps = ", ".join(layer.layer for layer in report.gaps)
    peak = result.memory_peak
    return (
        f"{result.reason}: code {result.returncode}, {result.wall_time:.3f}s wall, "
        f"{result.cpu_time:.3f}s cpu, peak {peak if peak is not None else '?'} bytes, "
        f"gaps: {gaps or 'none'}"
    )


async def many(n: int) -> list[Outcome]:
    box = Sandbox().user_ns().pid_ns().timeout(10)
    children = [box.spawn(["/bin/true"], stdout=rsandbox.DEVNULL) for _ in range(n)]
    return list(await asyncio.gather(*(c.wait_async() for c in children)))


def main() -> int:
    script = Path("/dev/null")  # an empty script: sh exits 0
    try:
        result = judge(script, b"")
    except rsandbox.SandboxPermissionError as e:
        print(f"cannot sandbox here: {e.fix}")
        return 1
    except rsandbox.ConfigError as e:
        print(f"bad configuration of {e.field}: {e.reason}")
        return 2
    print(describe(result))
    greeting: RunResult[str] = rsandbox.run(
        ["/bin/cat"], input="héllo", text=True, capture_output=True, check=True
    )
    assert greeting.stdout == "héllo"
    with Sandbox().pid_ns().spawn(["/bin/sleep", "5"]) as child:
        first: Outcome | None = child.poll()
        assert first is None
        child.kill()
        outcome = child.wait(timeout=5)
        print(outcome.reason, child.returncode)
    outcomes = asyncio.run(many(4))
    return 0 if all(o.success for o in outcomes) else 3


if __name__ == "__main__":
    raise SystemExit(main())
