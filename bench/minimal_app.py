"""The baseline of bench/startup.py and bench/http.py: a minimal nearest app, cKDTree + orjson.

``gunicorn --preload -w 2 bench.minimal_app:app`` with ``LOCATOR_DATABASE_URL`` set: the
master reads ``id, kind, lon, lat`` of the open facilities from the store (SQLite or
PostGIS), builds one cKDTree over unit vectors per kind and forks; the workers share the
arrays copy-on-write. ``GET /api/v1/nearest?lon=&lat=&kind=&limit=`` re-ranks k + 10
candidates by geodesic distance (pyproj) and answers ids and metres as JSON (orjson). It
is what "a preloaded minimal app (cKDTree over the same points)" costs in memory and
start-up, and the "minimal" line of bench/http.py's throughput table.
"""

from __future__ import annotations

import math
import os

import numpy as np
import orjson
from flask import Flask, Response, request
from pyproj import Geod
from scipy.spatial import cKDTree

GEOD = Geod(ellps="WGS84")


def _rows(url: str) -> list[tuple[str, str, float, float]]:
    sql = "SELECT id, kind, lon, lat FROM facilities WHERE status = 'open'"
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///") :]) as conn:
            return conn.execute(sql).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchall()  # type: ignore[return-value]


def _load() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, cKDTree]]:
    by_kind: dict[str, list[tuple[str, float, float]]] = {}
    for fid, kind, lon, lat in _rows(os.environ["LOCATOR_DATABASE_URL"]):
        by_kind.setdefault(kind, []).append((fid, lon, lat))
    out = {}
    for kind, items in by_kind.items():
        ids = np.array([i[0] for i in items])
        lon = np.array([i[1] for i in items])
        lat = np.array([i[2] for i in items])
        lo, la = np.radians(lon), np.radians(lat)
        xyz = np.column_stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)])
        out[kind] = (ids, lon, lat, cKDTree(xyz))
    return out


KINDS = _load()
app = Flask(__name__)


@app.get("/api/v1/nearest")
def nearest() -> Response:
    lon, lat = float(request.args["lon"]), float(request.args["lat"])
    kind = request.args.get("kind", "warm_station")
    k = int(request.args.get("limit", 10))
    ids, lons, lats, tree = KINDS[kind]
    lo, la = math.radians(lon), math.radians(lat)
    q = (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))
    _, idx = tree.query(q, k=min(k + 10, len(ids)))
    n = len(idx)
    _, _, dist = GEOD.inv(np.full(n, lon), np.full(n, lat), lons[idx], lats[idx])
    order = np.argsort(dist, kind="stable")[:k]
    body = [
        {"id": str(ids[i]), "distance_m": round(float(d), 3)}
        for i, d in zip(idx[order], dist[order], strict=True)
    ]
    return Response(orjson.dumps({"features": body}), mimetype="application/json")
