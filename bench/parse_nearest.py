"""Micro-benchmark: the cost of parsing a ``GET /api/v1/nearest`` query string.

Run from the repository root::

    python bench/parse_nearest.py [--number N] [--repeat R]

Times, per query string, in one process:

* **model**: :meth:`locator.http.models.NearestParams.parse` alone (pydantic validation of
  the query string: stripping, types, limits, enums, datum, instant);
* **parse**: :func:`locator.http.params.parse_nearest` — the model plus the domain query
  (datum conversion to WGS-84, :class:`~locator.core.domain.NearestQuery`, the echo);
  what the nearest view pays for its parameters;
* **view path**: the same through :func:`locator.http.operations.query` inside a request
  context of the real app (the operation lookup included).

Each figure is the best and the median of ``--repeat`` runs of ``--number`` calls, in
microseconds per call (the machine is shared: compare the best figures).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import timeit
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict  # noqa: E402

from locator import create_app  # noqa: E402
from locator.http.models import NearestParams  # noqa: E402
from locator.http.operations import query  # noqa: E402
from locator.http.params import nearest_query, parse_nearest  # noqa: E402

CASES = {
    "minimal": "lon=116.3376&lat=39.9925",
    "full": (
        "lon=116.34377&lat=39.99383&datum=gcj02&kind=warm_station&amenity=toilet,drinking_water"
        "&open_now=true&radius_m=2000&limit=5"
    ),
}


def _measure(fn, number: int, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    runs = timeit.repeat(fn, number=number, repeat=repeat)
    per_call = [r / number * 1e6 for r in runs]
    return min(per_call), statistics.median(per_call)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--number", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=7)
    opts = parser.parse_args()
    tmp = Path(tempfile.mkdtemp())
    config = {"LOCATOR_DATABASE_URL": f"sqlite:///{tmp}/b.sqlite3", "LOCATOR_SECRET_KEY": "b" * 32}
    app = create_app({"TESTING": True, **config})
    now = datetime.now(UTC)
    print(f"{'query':8s} {'step':10s} {'best µs':>8s} {'median µs':>10s}")
    for name, qs in CASES.items():
        args = MultiDict([tuple(p.split("=", 1)) for p in qs.split("&")])
        rows = [
            ("model", lambda args=args: NearestParams.parse(args)),
            ("parse", lambda args=args: parse_nearest(args, now)),
        ]
        with app.test_request_context("/api/v1/nearest?" + qs):
            rows.append(("view path", lambda: nearest_query(query(NearestParams), now)))
            for step, fn in rows:
                best, median = _measure(fn, opts.number, opts.repeat)
                print(f"{name:8s} {step:10s} {best:8.2f} {median:10.2f}")
    app.extensions["locator"].store.close()


if __name__ == "__main__":
    main()
