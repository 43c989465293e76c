"""Egress from Python: ``Egress(...)`` on a strict box, an allowed name
reached with ``urllib`` inside the box, a denied one answered NXDOMAIN and
never sent upstream, violations in the outcome, live (``Child.violations``)
and by callback, a live update, and bad rules as ``ConfigError``. Every
server is local: a DNS responder and an HTTP server of this test on the
caller's loopback. A rootless run of the same scenario as ``nobody``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import pytest

import rsandbox

from egress_servers import resolver, web

HERE = os.path.dirname(os.path.abspath(__file__))

FETCH = "import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"


def test_allowed_denied_live_and_updated() -> None:
    dns_port, asked = resolver({"ok.test", "later.test"})
    port = web()
    policy = rsandbox.Egress(
        allow_domains=[f"ok.test:{port}"], resolve_with=("127.0.0.1", dns_port)
    )
    sb = rsandbox.Sandbox.strict().timeout(60).egress(policy)
    script = (
        f"/usr/bin/python3 -c '{FETCH}' http://ok.test:{port}/ && "
        "getent hosts no.test; echo rc=$?; read go; "
        f"/usr/bin/python3 -c '{FETCH}' http://later.test:{port}/"
    )
    seen: list[rsandbox.Violation] = []
    with sb.spawn(["/bin/sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE) as child:
        child.on_violation(seen.append)
        live = child.violations()
        v = next(live)
        assert (v.kind, v.name, v.port) == ("dns", "no.test", 53)
        child.update_egress(
            rsandbox.Egress(
                allow_domains=[f"ok.test:{port}", f"later.test:{port}"],
                resolve_with=("127.0.0.1", dns_port),
            )
        )
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write(b"go\n")
        child.stdin.close()
        out = child.stdout.read().decode()
        o = child.wait(timeout=60)
    assert o.exit_code == 0, out
    assert out.startswith("hello ok.test\n") and out.endswith("rc=2\nhello later.test\n"), out
    assert {x.name for x in o.violations} == {"no.test"}
    assert all(x.kind == "dns" for x in seen)
    assert "no.test" not in asked and "ok.test" in asked and "later.test" in asked
    # The stream ended with the box: list() returns what it still held.
    assert all(x.name == "no.test" for x in list(live))


def test_bad_rules_are_config_errors() -> None:
    for rules, what in [([""], "empty"), (["*"], "every name"), (["a.test:0"], "port 0")]:
        with pytest.raises(rsandbox.ConfigError, match=what):
            rsandbox.Sandbox.strict().egress(rsandbox.Egress(allow_domains=rules)).validate()
    with pytest.raises(rsandbox.ConfigError, match="not an address"):
        rsandbox.Egress(allow_cidrs=["10.0.0.0/99"]).validate()
    with pytest.raises(rsandbox.ConfigError, match="resolve_with"):
        rsandbox.Egress(resolve_with="nowhere")


NOBODY = textwrap.dedent(
    """
    import json, rsandbox
    from egress_servers import resolver, web
    dns_port, asked = resolver({"ok.test"})
    port = web()
    sb = rsandbox.Sandbox.strict().timeout(60).egress(
        rsandbox.Egress(allow_domains=[f"ok.test:{port}"], resolve_with=("127.0.0.1", dns_port)))
    fetch = "import urllib.request, sys; print(urllib.request.urlopen(sys.argv[1], timeout=20).read().decode())"
    r = rsandbox.run(["/bin/sh", "-c", f"/usr/bin/python3 -c '{fetch}' http://ok.test:{port}/; getent hosts no.test"],
                     sandbox=sb, capture_output=True)
    print(json.dumps([r.returncode, r.stdout.decode(), [v.name for v in r.outcome.violations], asked]))
    """
)


def test_as_nobody() -> None:
    if os.getuid() != 0:
        pytest.skip("needs root to switch to nobody (CI runs the tests as root)")
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed for the rootless scenario"
    pkg = os.path.dirname(rsandbox.__file__)
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        shutil.copytree(pkg, os.path.join(d, "rsandbox"), ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(os.path.join(HERE, "egress_servers.py"), d)
        script = os.path.join(d, "scenario.py")
        with open(script, "w") as f:
            f.write(NOBODY)
        for root, dirs, files in os.walk(d):
            for n in dirs:
                os.chmod(os.path.join(root, n), 0o755)
            for n in files:
                os.chmod(os.path.join(root, n), 0o644)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
        p = subprocess.run(
            [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", python, "-S", script],
            capture_output=True,
            timeout=120,
            cwd=d,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": d},
        )
    assert p.returncode == 0, p.stderr.decode()
    import json

    code, out, names, asked = json.loads(p.stdout)
    assert code == 2, out  # getent: not found
    assert out.strip() == "hello ok.test", out
    assert set(names) == {"no.test"}
    assert "no.test" not in asked
