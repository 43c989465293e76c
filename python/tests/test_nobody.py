"""One scenario as an unprivileged user (nobody): rootless boxes work, and a
box that needs root fails with PermissionError saying how to fix it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

import rsandbox

SCRIPT = textwrap.dedent(
    """
    import json
    import os
    import sys
    import rsandbox

    out = {}
    try:
        rsandbox.run(["/bin/true"], sandbox=rsandbox.Sandbox().pid_ns())
    except PermissionError as e:
        out["pid_ns"] = [type(e).__name__, isinstance(e, rsandbox.SandboxError),
                         e.errno, str(e), e.fix]
    try:
        rsandbox.run(["/bin/true"], sandbox=rsandbox.Sandbox().user_ns().memory_limit(64 << 20))
        out["memory"] = "ran"
    except PermissionError as e:
        out["memory"] = [type(e).__name__, str(e)]
    sb = (rsandbox.Sandbox().user_ns().pid_ns().mount_ns().uts_ns().net_ns()
          .hostname("nb").timeout(10))
    r = rsandbox.run(["/bin/sh", "-c", "id -u; echo $PPID; hostname; tail -n +3 /proc/net/dev"],
                     sandbox=sb, capture_output=True)
    out["run"] = [r.returncode, r.stdout.decode(), r.stderr.decode()]
    with sb.pool(1, stdout=rsandbox.PIPE) as pool:
        c = pool.spawn(["/bin/sh", "-c", "id -u; echo $$; hostname; exit 4"])
        out["pool"] = [c.stdout.read().decode(), c.wait().exit_code]
    serve = ("import os, sys, rsandbox\\n"
             "arg = rsandbox.serve_forks()\\n"
             "print(os.getuid(), arg, flush=True)\\n"
             "os._exit(arg)\\n")
    tsb = rsandbox.Sandbox().env("PYTHONPATH", os.getcwd())
    with tsb.template([sys.executable, "-S", "-c", serve]) as t:
        f = t.fork(6, stdout=rsandbox.PIPE)
        out["fork"] = [f.stdout.read().decode(), f.wait()]
    nserve = ("import os, rsandbox\\n"
              "arg = rsandbox.serve_forks()\\n"
              "procs = [p for p in os.listdir('/proc') if p.isdigit()]\\n"
              "print(os.getuid(), os.getpid(), os.getppid(), procs, flush=True)\\n"
              "os._exit(arg)\\n")
    with tsb.template([sys.executable, "-S", "-c", nserve], fork_namespaces=True) as t:
        f = t.fork(3, stdout=rsandbox.PIPE)
        out["nsfork"] = [f.stdout.read().decode(), f.wait()]
    print(json.dumps(out))
    """
)


def test_as_nobody() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to switch to nobody (CI runs the tests as root)")
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for the rootless scenario"
    pkg = os.path.dirname(rsandbox.__file__)
    with tempfile.TemporaryDirectory() as d:
        # nobody may not be able to read the checkout or the venv: run from a
        # fresh world-readable copy of the package, with the system Python
        # (the extension is abi3, built for >= 3.11).
        os.chmod(d, 0o755)
        shutil.copytree(pkg, os.path.join(d, "rsandbox"), ignore=shutil.ignore_patterns("__pycache__"))
        script = os.path.join(d, "scenario.py")
        with open(script, "w") as f:
            f.write(SCRIPT)
        for root, dirs, files in os.walk(d):
            for n in dirs:
                os.chmod(os.path.join(root, n), 0o755)
            for n in files:
                os.chmod(os.path.join(root, n), 0o644)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        p = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-S", script],
            capture_output=True,
            timeout=60,
            cwd=d,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": d},
        )
    assert p.returncode == 0, p.stderr.decode()
    out = json.loads(p.stdout)
    name, is_sandbox_error, errno_, message, fix = out["pid_ns"]
    assert name == "SandboxPermissionError" and is_sandbox_error
    assert errno_ == 1
    assert "user_ns()" in fix and fix in message
    code, stdout, stderr = out["run"]
    assert code == 0, stderr
    uid, ppid, host, *net = stdout.split("\n")
    assert (uid, ppid, host) == ("65534", "1", "nb")
    assert [line.split(":")[0].strip() for line in net if line] == ["lo"]
    # A warm pool and a template work rootless too.
    assert out["pool"] == ["65534\n2\nnb\n", 4]
    assert out["fork"] == ["65534 6\n", 6]
    # A fork in namespaces of its own: pid 1, alone in its /proc.
    assert out["nsfork"] == ["65534 1 0 ['1']\n", 3]
    # A cgroup limit needs a delegated cgroup: either it works, or it says why.
    assert out["memory"] == "ran" or out["memory"][0] == "SandboxPermissionError"
