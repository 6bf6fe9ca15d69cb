"""Run the cluster drill (tests/test_cluster.py) and print its figures as a table.

Usage (as root or as the postgres user, with the Debian packages of .ci/run)::

    .venv/bin/python bench/cluster_drill.py [--runs N]

Each run starts etcd, two PostgreSQL nodes under Patroni, Redis, two app nodes and nginx
on 127.0.0.1, runs the five steps and stops everything (about 2.5 minutes a run).
Figures: visibility of an edit through the other node reading from the standby (p50/max
over 50 edits), the write outage of a failover (SIGKILL of the primary's host to the
first accepted edit), refused edits, rider queries and errors, lost acknowledged edits.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = [
    ("visibility_p50_ms", "visibility p50 (ms)"),
    ("visibility_max_ms", "visibility max (ms)"),
    ("failover_write_gap_s", "write outage (s)"),
    ("failover_writes_refused", "edits refused (503)"),
    ("rider_queries_during_drill", "rider queries"),
    ("rider_errors", "rider errors"),
    ("lost_acknowledged_edits", "lost acknowledged edits"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    results = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "figures.json"
            env = {**os.environ, "LOCATOR_CLUSTER_TESTS": "1", "LOCATOR_CLUSTER_FIGURES": str(out)}
            done = subprocess.run(  # noqa: S603 - our own test suite
                [sys.executable, "-m", "pytest", "-m", "cluster", "-q", "-p", "no:cacheprovider"],
                cwd=ROOT,
                env=env,
                check=False,
            )
            figures = json.loads(out.read_text()) if out.exists() else {}
            figures["passed"] = done.returncode == 0
            results.append(figures)
    print(f"{'figure':<28}" + "".join(f"{'run ' + str(i + 1):>10}" for i in range(len(results))))
    for key, label in [*KEYS, ("passed", "all steps passed")]:
        print(f"{label:<28}" + "".join(f"{r.get(key, '-')!s:>10}" for r in results))
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
