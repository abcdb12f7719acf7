"""benchmarks/gpu_check.sh's JSON lines: each measurement's record tagged with its check, or one
line saying why there is none.

    python benchmarks/gpu_check_lines.py records CHECK RC LOG < stdout   # jobs/benchmark.py's records
    python benchmarks/gpu_check_lines.py tests CHECK RC JUNIT_XML LOG    # a pytest run's outcome per test
    python benchmarks/gpu_check_lines.py skipped CHECK REASON
"""
from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def _failed(check: str, rc: int, log: str) -> dict:
    tail = Path(log).read_text(errors="replace").strip().splitlines()[-15:] if Path(log).is_file() else []
    why = "timed out" if rc in (124, 137) else f"exit {rc}"
    return {"check": check, "status": "failed", "reason": why, "log_tail": tail}


def records(check: str, rc: int, log: str) -> list[dict]:
    lines = [json.loads(line) for line in sys.stdin if line.startswith("{")]
    out = [{"check": check, "status": "skipped" if "skipped" in r else "ok", **r} for r in lines]
    return out + ([_failed(check, rc, log)] if rc or not lines else [])


def tests(check: str, rc: int, junit: str, log: str) -> list[dict]:
    if not Path(junit).is_file():
        return [_failed(check, rc or 1, log)]
    outcomes = []
    for case in ET.parse(junit).iter("testcase"):
        result = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        outcomes.append({"test": f"{case.get('classname')}::{case.get('name')}",
                         "outcome": "passed" if result is None else {"failure": "failed"}.get(result.tag, result.tag),
                         **({"message": (result.get("message") or "")[:300]} if result is not None else {})})
    counts = {k: sum(o["outcome"] == k for o in outcomes) for k in ("passed", "failed", "error", "skipped")}
    # pytest exits 5 when every test was deselected: nothing ran, nothing failed.
    status = "failed" if counts["failed"] or counts["error"] or rc not in (0, 5) else "ok"
    return [{"check": check, "status": status, "rc": rc, **counts, "tests": outcomes}]


def main(argv: list[str]) -> int:
    kind, check, *rest = argv
    if kind == "records":
        lines = records(check, int(rest[0]), rest[1])
    elif kind == "tests":
        lines = tests(check, int(rest[0]), rest[1], rest[2])
    else:
        lines = [{"check": check, "status": "skipped", "skipped": rest[0]}]
    for line in lines:
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
