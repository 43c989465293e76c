"""The Python surface of the cross-language scenarios (tests/surfaces.rs).

Reads a JSON list of scenarios on stdin ({"name", "base", "steps": [[setter,
[args...]]...], "argv"}), builds each box through the `rsandbox` package
(`getattr(sandbox, setter)(*args)`), runs it with `rsandbox.run` (or, with
"describe", only writes its `to_json()`), and prints
one JSON object per scenario: the exception's class, the builtin classes it
is an instance of, its message and `field` when a call raised, else the
outcome with the captured stdout and stderr. Runs with `python -S`: the
standard library and `rsandbox` only.
"""

import json
import sys

import rsandbox

BUILTINS = (ValueError, PermissionError, FileNotFoundError, OSError)


def run(scenario):
    sb = rsandbox.Sandbox.strict() if scenario["base"] == "strict" else rsandbox.Sandbox()
    for setter, args in scenario["steps"]:
        sb = getattr(sb, setter)(*args)
    if scenario.get("describe"):
        return {"json": sb.to_json()}
    r = rsandbox.run(scenario["argv"], sandbox=sb, capture_output=True)
    o = r.outcome
    return {
        "reason": o.reason,
        "exit_code": o.exit_code,
        "signal": o.signal,
        "pids_peak": o.pids_peak,
        "stdout": r.stdout.decode(errors="replace"),
        "stderr": r.stderr.decode(errors="replace"),
    }


def main():
    for scenario in json.load(sys.stdin):
        try:
            out = run(scenario)
        except Exception as e:  # reported, judged by the harness
            out = {
                "exception": type(e).__name__,
                "sandbox_error": isinstance(e, rsandbox.SandboxError),
                "builtins": [b.__name__ for b in BUILTINS if isinstance(e, b)],
                "message": str(e),
                "field": getattr(e, "field", None),
            }
        out["scenario"] = scenario["name"]
        print(json.dumps(out), flush=True)


main()
