"""The city map's data: the cluster pyramid (exact counts, edits, bounded sizes) and its API."""

from __future__ import annotations

import gzip
import json
import random
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask

from locator.core import clusters
from locator.core.clusters import (
    CELL_SHIFT,
    MAX_CELLS,
    MAX_CLUSTER_ZOOM,
    VISIBLE_STATUSES,
    build_pyramid,
    cell_bounds,
    cell_of,
    covering_cells,
    viewport,
)
from locator.core.domain import KINDS, Facility
from locator.core.geo import Datum, from_wgs84, to_wgs84
from locator.core.index import BaseColumns, FacilityIndex
from locator.stores.contract import ListFilter

KIND_NAMES = list(KINDS)
STATUS_NAMES = ["open", "open", "open", "temporarily_closed", "removed"]
EVIL_NAME = "<img src=x onerror=alert(1)>"
EVIL_ADDRESS = '"><script>alert(2)</script>&amp;'


def random_facilities(n: int, seed: int = 7) -> list[Facility]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        # Dense spots (several facilities per cell at high zoom) and scattered ones.
        if i % 3:
            lon, lat = 116.30 + rnd.gauss(0, 0.01), 39.95 + rnd.gauss(0, 0.01)
        else:
            lon, lat = rnd.uniform(115.5, 117.4), rnd.uniform(39.5, 40.9)
        out.append(
            Facility(
                id=f"f{i:05d}",
                kind=KIND_NAMES[i % 3],
                name=f"站点 {i}",
                lon=lon,
                lat=lat,
                status=STATUS_NAMES[rnd.randrange(len(STATUS_NAMES))],
                demo=True,
            )
        )
    return out


FACILITIES = random_facilities(3000)


def in_covered(f: Facility, covered: tuple[float, float, float, float]) -> bool:
    """Whether the facility's cell lies in the covered bbox (cells hold their west and north edges)."""
    w, s, e, n = covered
    return w <= f.lon < e and s < f.lat <= n


def expected_counts(facilities: list[Facility], covered: tuple[float, float, float, float]) -> Counter[str]:
    return Counter(f.kind for f in facilities if f.status in VISIBLE_STATUSES and in_covered(f, covered))


def answered_counts(view: clusters.Viewport) -> Counter[str]:
    got: Counter[str] = Counter()
    for c in view.clusters:
        got[c.kind] += c.count
    for m in view.members:
        got[m.kind] += 1
    return got


BOXES = [
    (116.28, 39.93, 116.32, 39.97),
    (116.0, 39.7, 116.7, 40.2),
    (115.4, 39.4, 117.5, 41.1),
    (116.295, 39.945, 116.305, 39.955),
]


# --- the grid --------------------------------------------------------------------------------


def test_cells_and_their_bounds_agree() -> None:
    for zoom in (3, 9, 12, 16, 19):
        ix, iy = cell_of(116.3376, 39.9925, zoom)
        w, s, e, n = cell_bounds(int(ix), int(iy), int(ix), int(iy), zoom)
        assert w <= 116.3376 < e and s < 39.9925 <= n
        # a cell is CELL_PX pixels of a 256-px tile: 2 ** (zoom + CELL_SHIFT) across the world
        assert e - w == pytest.approx(360 / 2 ** (zoom + CELL_SHIFT))


def test_covering_cells_refuses_a_bbox_that_is_too_large() -> None:
    ix0, iy0, ix1, iy1 = covering_cells((115.4, 39.4, 117.5, 41.1), 9)
    assert (ix1 - ix0 + 1) * (iy1 - iy0 + 1) <= MAX_CELLS
    with pytest.raises(clusters.TooManyCellsError):
        covering_cells((100.0, 20.0, 130.0, 50.0), 12)
    with pytest.raises(ValueError):
        covering_cells((117.0, 39.0, 116.0, 40.0), 12)


# --- exact counts --------------------------------------------------------------------------


#: (bbox, zoom) pairs within MAX_CELLS: the whole region at low zooms, parts of it higher up.
VIEWS = [(box, zoom) for box in BOXES for zoom in (3, 7, 10, 12, 14, 16, 17) if box != BOXES[2] or zoom <= 10]
VIEWS = [(box, zoom) for box, zoom in VIEWS if box != BOXES[1] or zoom <= 12]
VIEWS = [(box, zoom) for box, zoom in VIEWS if box != BOXES[0] or zoom <= 14]


@pytest.mark.parametrize(("box", "zoom"), VIEWS)
def test_cluster_counts_sum_to_the_bbox_facilities_per_kind(box: tuple[float, ...], zoom: int) -> None:
    index = FacilityIndex(FACILITIES, revision=1)
    view = viewport(index, box, zoom)
    assert view.covered[0] <= box[0] and view.covered[2] >= box[2]
    assert view.covered[1] <= box[1] and view.covered[3] >= box[3]
    assert answered_counts(view) == expected_counts(FACILITIES, view.covered)
    assert all(c.count >= 2 for c in view.clusters)
    # a cluster sits at the mean position of its facilities, inside the covered bbox
    for c in view.clusters:
        assert view.covered[0] <= c.lon <= view.covered[2] and view.covered[1] <= c.lat <= view.covered[3]
    # one answer per (kind, cell): members and clusters never share a cell of their kind
    cells = [(c.kind, *map(int, cell_of(c.lon, c.lat, zoom))) for c in view.clusters]
    cells += [(m.kind, *map(int, cell_of(m.lon, m.lat, zoom))) for m in view.members]
    assert len(cells) == len(set(cells))


def test_kinds_filter() -> None:
    index = FacilityIndex(FACILITIES, revision=1)
    view = viewport(index, BOXES[1], 12, kinds=["union_home"])
    counts = answered_counts(view)
    assert set(counts) == {"union_home"}
    assert counts["union_home"] == expected_counts(FACILITIES, view.covered)["union_home"]


@pytest.mark.parametrize("zoom", [MAX_CLUSTER_ZOOM + 1, 19])
def test_above_the_cluster_zooms_exactly_the_facilities_in_the_bbox(zoom: int) -> None:
    index = FacilityIndex(FACILITIES, revision=1)
    box = (116.297, 39.947, 116.303, 39.953)
    view = viewport(index, box, zoom)
    assert view.clusters == []
    ids = sorted(index.facility_id(m.handle) for m in view.members)
    expected = sorted(
        f.id for f in FACILITIES if f.status in VISIBLE_STATUSES and in_covered(f, view.covered)
    )
    assert ids == expected and len(ids) > 5
    inside = {
        f.id
        for f in FACILITIES
        if f.status in VISIBLE_STATUSES and box[0] <= f.lon <= box[2] and box[1] <= f.lat <= box[3]
    }
    assert inside <= set(ids)
    by_id = {f.id: f for f in FACILITIES}
    for m in view.members:
        f = by_id[index.facility_id(m.handle)]
        assert (m.lon, m.lat, m.kind) == (f.lon, f.lat, f.kind)


def test_a_lone_facility_is_a_member_with_its_exact_position() -> None:
    index = FacilityIndex(FACILITIES, revision=1)
    view = viewport(index, BOXES[1], 12)
    assert view.members
    by_id = {f.id: f for f in FACILITIES}
    for m in view.members:
        f = by_id[index.facility_id(m.handle)]
        assert (m.lon, m.lat, m.kind) == (f.lon, f.lat, f.kind)
        assert f.status in VISIBLE_STATUSES


# --- edits: the overlay is applied per answer ---------------------------------------------


def comparable(view: clusters.Viewport, index: FacilityIndex) -> tuple[Any, ...]:
    """Covered bbox, clusters by (kind, cell) with counts, members exactly."""
    cl = {(c.kind, *map(int, cell_of(c.lon, c.lat, view.zoom))): c.count for c in view.clusters}
    mb = sorted((m.kind, index.facility_id(m.handle), m.lon, m.lat) for m in view.members)
    return view.covered, cl, mb


def same_positions(a: clusters.Viewport, b: clusters.Viewport) -> None:
    """Cluster means agree to the float32 the pyramid stores them in (~1e-5 degrees)."""
    pa = {(c.kind, *map(int, cell_of(c.lon, c.lat, a.zoom))): (c.lon, c.lat) for c in a.clusters}
    for c in b.clusters:
        lon, lat = pa[(c.kind, *map(int, cell_of(c.lon, c.lat, b.zoom)))]
        assert abs(lon - c.lon) < 2e-5 and abs(lat - c.lat) < 2e-5


def test_edits_give_exactly_the_answer_of_a_rebuilt_index() -> None:
    rnd = random.Random(3)
    base = FacilityIndex(FACILITIES, revision=1)
    current = {f.id: f for f in FACILITIES}
    idx = base
    for step in range(6):
        changed, deleted = [], []
        for f in rnd.sample(sorted(current.values(), key=lambda x: x.id), 40):
            what = rnd.random()
            if what < 0.4:  # move, maybe into another cell
                g = f.replace(lon=f.lon + rnd.uniform(-0.01, 0.01), lat=f.lat + rnd.uniform(-0.01, 0.01))
            elif what < 0.6:
                g = f.replace(status=rnd.choice(STATUS_NAMES))
            elif what < 0.7:
                g = f.replace(kind=rnd.choice(KIND_NAMES))
            elif what < 0.85:
                deleted.append(f.id)
                del current[f.id]
                continue
            else:
                g = f
            changed.append(g)
            current[g.id] = g
        for j in range(5):  # new facilities, some in dense cells
            g = Facility(
                id=f"new-{step}-{j}",
                kind=rnd.choice(KIND_NAMES),
                name="新",
                lon=116.30 + rnd.gauss(0, 0.005),
                lat=39.95 + rnd.gauss(0, 0.005),
            )
            changed.append(g)
            current[g.id] = g
        idx = idx.apply(changed, deleted, revision=2 + step)
        rebuilt = FacilityIndex(current.values(), revision=idx.revision)
        assert idx.overlay_size > 0
        for box, zoom in ((BOXES[0], 10), (BOXES[0], 13), (BOXES[3], 16), (BOXES[3], 17), (BOXES[3], 18)):
            if True:
                got, want = viewport(idx, box, zoom), viewport(rebuilt, box, zoom)
                assert comparable(got, idx) == comparable(want, rebuilt), (step, zoom, box)
                same_positions(got, want)
                assert answered_counts(got) == expected_counts(list(current.values()), got.covered)
    # the pyramid was built once, for the base, and shared by every overlay on it
    assert idx.base_derived(clusters.DERIVED_NAME, lambda cols: None) is clusters.pyramid_of(base)


def test_an_edit_moves_a_facility_between_clusters() -> None:
    index = FacilityIndex(FACILITIES, revision=1)
    f = next(f for f in FACILITIES if f.status == "open" and f.kind == "warm_station" and f.id > "f00010")
    zoom = 12
    old_cell = tuple(int(v) for v in cell_of(f.lon, f.lat, zoom))
    moved = f.replace(lon=f.lon + 0.2, lat=f.lat - 0.1)
    new_cell = tuple(int(v) for v in cell_of(moved.lon, moved.lat, zoom))
    assert old_cell != new_cell

    def count_at(idx: FacilityIndex, cell: tuple[int, ...]) -> int:
        b = cell_bounds(cell[0], cell[1], cell[0], cell[1], zoom)
        view = viewport(idx, (b[0] + 1e-9, b[1] + 1e-9, b[2] - 1e-9, b[3] - 1e-9), zoom, kinds=[f.kind])
        return answered_counts(view)[f.kind]

    before = (count_at(index, old_cell), count_at(index, new_cell))
    after_idx = index.apply([moved], [], revision=2)
    after = (count_at(after_idx, old_cell), count_at(after_idx, new_cell))
    assert after == (before[0] - 1, before[1] + 1)
    gone = index.apply([], [f.id], revision=2)
    assert count_at(gone, old_cell) == before[0] - 1
    hidden = index.apply([f.replace(status="removed")], [], revision=2)
    assert count_at(hidden, old_cell) == before[0] - 1


# --- bounded at a national size ------------------------------------------------------------


def synthetic_columns(n: int, seed: int = 1) -> BaseColumns:
    rng = np.random.default_rng(seed)
    src_lon, src_lat = rng.uniform(115.9, 116.8, 25_470), rng.uniform(39.6, 40.3, 25_470)
    pick = rng.integers(0, 25_470, n)
    lon = src_lon[pick] + rng.uniform(-0.003, 0.003, n)
    lat = src_lat[pick] + rng.uniform(-0.003, 0.003, n)
    kind = rng.integers(0, 3, n).astype(np.uint8)
    status = np.where(rng.random(n) < 0.05, 4, 1).astype(np.int64)  # bit 4: removed
    return BaseColumns(object(), lon, lat, kind, ["nursing_room", "union_home", "warm_station"], status)


def test_answers_stay_bounded_at_a_million_facilities() -> None:
    n = 1_000_000
    cols = synthetic_columns(n)
    pyramid = build_pyramid(cols)
    assert pyramid.size == int(np.count_nonzero(cols.status == 1))
    assert pyramid.nbytes < 40 * n  # ~27 MB: a few arrays per non-empty cell, never per zoom x N
    # every zoom counts every shown facility once
    for zoom, level in pyramid.levels.items():
        assert int(level.count.sum()) == pyramid.size, zoom
    # a phone's view (412 x 915 px, whole tiles: up to 3 x 5 of them) over the densest part
    worst = 0
    for zoom in range(clusters.MIN_ZOOM, clusters.PYRAMID_MAX_ZOOM + 1):
        world = 256 * 2**zoom
        x, y = clusters.mercator_xy(116.40, 39.95)
        tx, ty = int(float(x) * world // 256), int(float(y) * world // 256)
        cells = tuple(v << CELL_SHIFT for v in (tx - 1, ty - 2)) + tuple(
            ((v + 1) << CELL_SHIFT) - 1 for v in (tx + 1, ty + 2)
        )
        keys, count, lon, lat, _ = pyramid.window(zoom, cells, [0, 1, 2])  # type: ignore[arg-type]
        in_view = (cells[2] - cells[0] + 1) * (cells[3] - cells[1] + 1)
        assert len(keys) <= 3 * in_view
        body = {
            "clusters": [
                [round(a, 5), round(b, 5), int(c), int(k >> (2 * (zoom + CELL_SHIFT)))]
                for a, b, c, k in zip(lon.tolist(), lat.tolist(), count.tolist(), keys.tolist(), strict=True)
            ]
        }
        size = len(gzip.compress(json.dumps(body, separators=(",", ":")).encode(), 6))
        worst = max(worst, size)
    assert worst <= 50_000, worst


# --- the HTTP API, on both stores ---------------------------------------------------------


def _json(resp: Any) -> Any:
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()


def clusters_url(box: tuple[float, ...], zoom: int, **extra: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in extra.items())
    return f"/api/v1/map/clusters?bbox={','.join(map(str, box))}&zoom={zoom}" + (f"&{q}" if q else "")


def test_viewport_answers_match_the_store(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    client = app.test_client()
    store = app.extensions["locator"].store
    for box, zoom in (((116.25, 39.9, 116.45, 40.05), 12), ((116.3, 39.95, 116.35, 40.0), 15)):
        body = _json(client.get(clusters_url(box, zoom)))
        assert body["datum"] == "wgs84" and body["zoom"] == zoom
        w, s, e, n = body["covered"]
        got: Counter[str] = Counter()
        for _, _, count, k in body["clusters"]:
            got[body["kinds"][k]] += count
        for _, _, _, k in body["facilities"]:
            got[body["kinds"][k]] += 1
        rows = store.list(ListFilter(bbox=(w, s, e, n)))
        want = Counter(f.kind for f in rows if f.status != "removed" and w <= f.lon < e and s < f.lat <= n)
        assert got == want and sum(got.values()) > 50
    # above the cluster zooms: exactly the facilities, with their ids and positions
    body = _json(client.get(clusters_url((116.33, 39.99, 116.34, 40.0), MAX_CLUSTER_ZOOM + 1)))
    assert body["clusters"] == []
    w, s, e, n = body["covered"]
    rows = {
        f.id: f
        for f in store.list(ListFilter(bbox=(w, s, e, n)))
        if f.status != "removed" and w <= f.lon < e and s < f.lat <= n
    }
    assert {row[2] for row in body["facilities"]} == set(rows) and rows
    for lon, lat, fid, k in body["facilities"]:
        f = rows[fid]
        assert (lon, lat, body["kinds"][k]) == (round(f.lon, 6), round(f.lat, 6), f.kind)


def test_positions_follow_the_tiles_datum(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory(LOCATOR_TILES="amap")
    client = app.test_client()
    html = client.get("/map").get_data(as_text=True)
    assert '"datum":"gcj02"' in html
    wgs = (116.33, 39.99, 116.34, 40.0)
    plain = _json(client.get(clusters_url(wgs, MAX_CLUSTER_ZOOM + 1)))
    # the same place asked in GCJ-02: every facility comes back shifted, none lost
    sw, ne = from_wgs84(wgs[0], wgs[1], Datum.GCJ02), from_wgs84(wgs[2], wgs[3], Datum.GCJ02)
    gcj = _json(client.get(clusters_url((*sw, *ne), MAX_CLUSTER_ZOOM + 1, datum="gcj02")))
    assert gcj["datum"] == "gcj02"
    shifted = {row[2]: row for row in gcj["facilities"]}
    for lon, lat, fid, _ in plain["facilities"]:
        glon, glat = from_wgs84(lon, lat, Datum.GCJ02)
        assert fid in shifted
        assert abs(shifted[fid][0] - glon) < 2e-6 and abs(shifted[fid][1] - glat) < 2e-6
        assert abs(glon - lon) > 1e-3  # ~500 m in Beijing: really shifted
    back = to_wgs84(shifted[fid][0], shifted[fid][1], Datum.GCJ02)
    assert abs(back[0] - lon) < 2e-6
    # clusters too
    low = _json(client.get(clusters_url((116.2, 39.8, 116.5, 40.1), 11, datum="gcj02")))
    low_wgs = _json(client.get(clusters_url((116.2, 39.8, 116.5, 40.1), 11)))
    assert low["clusters"] and len(low["clusters"]) >= len(low_wgs["clusters"]) // 2


def test_popups_carry_text_never_markup(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    svc = app.extensions["locator"]
    f = svc.create(
        {"kind": "warm_station", "name": EVIL_NAME, "address": EVIL_ADDRESS, "lon": 116.3376, "lat": 39.9925},
        Datum.WGS84,
    )
    client = app.test_client()
    r = client.get(f"/api/v1/map/facilities/{f.id}")
    raw = r.get_data(as_text=True)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "<" not in raw and ">" not in raw and "&" not in raw  # \u escapes only
    body = r.get_json()
    assert body["name"] == EVIL_NAME and body["address"] == EVIL_ADDRESS  # text, as stored
    assert body["coordinates"] == [round(f.lon, 6), round(f.lat, 6)] and body["kind"] == "warm_station"
    # ...and the map page holds no facility text at all
    page = client.get("/map").get_data(as_text=True)
    assert "onerror" not in page and f.id not in page
    assert client.get("/api/v1/map/facilities/nope").status_code == 404
    removed = svc.update(f.id, {"status": "removed", "status_reason": "测试"}, f.version)
    assert client.get(f"/api/v1/map/facilities/{removed.id}").status_code == 404


def test_cache_headers_follow_the_revision(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    svc = app.extensions["locator"]
    client = app.test_client()
    url = clusters_url((116.33, 39.99, 116.34, 40.0), MAX_CLUSTER_ZOOM + 1)
    first = client.get(url)
    rev = first.get_json()["revision"]
    assert first.headers["ETag"] == f'W/"r{rev}"'
    assert first.headers["Cache-Control"] == "public, max-age=60"
    again = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.headers["ETag"] == first.headers["ETag"] and not again.data
    fid = first.get_json()["facilities"][0][2]
    popup = client.get(f"/api/v1/map/facilities/{fid}")
    assert re.fullmatch(rf'W/"{re.escape(fid)}-v\d+"', popup.headers["ETag"])
    assert (
        client.get(
            f"/api/v1/map/facilities/{fid}", headers={"If-None-Match": popup.headers["ETag"]}
        ).status_code
        == 304
    )
    f = svc.get(fid)
    moved = svc.update(fid, {"lon": f.lon + 0.05, "lat": f.lat}, f.version)
    after = client.get(url, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.get_json()["revision"] > rev
    assert after.headers["ETag"] != first.headers["ETag"]
    assert fid not in {row[2] for row in after.get_json()["facilities"]}  # it moved away
    popup2 = client.get(f"/api/v1/map/facilities/{fid}", headers={"If-None-Match": popup.headers["ETag"]})
    assert popup2.status_code == 200 and popup2.get_json()["coordinates"][0] == round(moved.lon, 6)
    outlines = client.get("/api/v1/map/districts?zoom=8")
    assert outlines.headers["Cache-Control"] == "public, max-age=86400"
    assert (
        client.get(
            "/api/v1/map/districts?zoom=8", headers={"If-None-Match": outlines.headers["ETag"]}
        ).status_code
        == 304
    )


def test_an_edit_moves_a_facility_between_clusters_over_http(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    svc = app.extensions["locator"]
    client = app.test_client()
    zoom = 13
    f = svc.get(
        _json(client.get(clusters_url((116.33, 39.99, 116.34, 40.0), MAX_CLUSTER_ZOOM + 1)))["facilities"][0][
            2
        ]
    )
    target = (116.60, 40.20)  # far away, in another cell

    def count_near(lon: float, lat: float) -> int:
        ix, iy = cell_of(lon, lat, zoom)
        b = cell_bounds(int(ix), int(iy), int(ix), int(iy), zoom)
        body = _json(
            client.get(clusters_url((b[0] + 1e-7, b[1] + 1e-7, b[2] - 1e-7, b[3] - 1e-7), zoom, kind=f.kind))
        )
        return sum(c[2] for c in body["clusters"]) + len(body["facilities"])

    before = (count_near(f.lon, f.lat), count_near(*target))
    svc.update(f.id, {"lon": target[0], "lat": target[1]}, f.version)
    assert (count_near(f.lon, f.lat), count_near(*target)) == (before[0] - 1, before[1] + 1)


@pytest.mark.parametrize(
    "query",
    [
        "bbox=116,39,117&zoom=12",
        "bbox=116,39,117,abc&zoom=12",
        "bbox=117,39,116,40&zoom=12",
        "bbox=116,39,117,95&zoom=12",
        "bbox=116,39,117,nan&zoom=12",
        "bbox=100,20,130,50&zoom=12",
        "bbox=116,39,117,40&zoom=2",
        "bbox=116,39,117,40&zoom=20",
        "bbox=116,39,117,40",
        "zoom=12",
        "bbox=116,39,117,40&zoom=12&kind=planet",
        "bbox=116,39,117,40&zoom=12&datum=mars",
    ],
)
def test_bad_viewport_requests_are_400_problems(demo_app_factory: Callable[..., Flask], query: str) -> None:
    app = demo_app_factory()
    r = app.test_client().get("/api/v1/map/clusters?" + query)
    assert r.status_code == 400 and r.mimetype == "application/problem+json", r.get_data(as_text=True)
    assert r.get_json()["param"] in {"bbox", "zoom", "kind", "datum"}


def test_outlines_by_zoom_band_decode_to_the_districts(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    client = app.test_client()
    coarse = _json(client.get("/api/v1/map/districts?zoom=7"))
    fine = _json(client.get("/api/v1/map/districts?zoom=15"))
    assert coarse["level"] < fine["level"]
    assert len(json.dumps(coarse)) < len(json.dumps(fine)) / 3

    def vertices(body: dict[str, Any]) -> np.ndarray:
        out = []
        for flat in body["lines"]:
            xy = np.cumsum(np.asarray(flat, dtype=np.int64).reshape(-1, 2), axis=0) * body["quantum"]
            out.append(xy)
        return np.vstack(out)

    for body in (coarse, fine):
        xy = vertices(body)
        # Beijing's extent, in WGS-84 degrees
        assert 115.3 < xy[:, 0].min() < 115.6 and 117.4 < xy[:, 0].max() < 117.6
        assert 39.3 < xy[:, 1].min() < 39.5 and 40.9 < xy[:, 1].max() < 41.1
    gcj = _json(client.get("/api/v1/map/districts?zoom=15&datum=gcj02"))
    a, b = vertices(fine)[0], vertices(gcj)[0]
    want = from_wgs84(float(a[0]), float(a[1]), Datum.GCJ02)
    assert abs(b[0] - want[0]) < 2e-5 and abs(b[1] - want[1]) < 2e-5


def test_the_map_page_is_a_small_shell(demo_app_factory: Callable[..., Flask]) -> None:
    app = demo_app_factory()
    client = app.test_client()
    r = client.get("/map", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert len(r.data) < 15_000  # the whole city: no facility in the page
    html = gzip.decompress(r.data).decode()
    assert not re.search(r"demo-(osm|cb|aoi)", html) and "markercluster" not in html.lower()
    assert "/static/js/city-map.js" in html and "/api/v1/map/clusters" in html
    # the layer names carry the counts the map shows (every status but removed)
    store = app.extensions["locator"].store
    shown = Counter(f.kind for f in store.all() if f.status != "removed")
    for kind, count in shown.items():
        assert f"({count:,})" in html, kind
    assert f"({sum(shown.values())})" in html


def test_vectorised_datum_shift_equals_the_scalar_one() -> None:
    from locator.core.geo import from_wgs84_arrays

    rnd = random.Random(11)
    pts = [(rnd.uniform(60, 150), rnd.uniform(-5, 60)) for _ in range(3000)]  # inside and outside China
    lon, lat = np.array([p[0] for p in pts]), np.array([p[1] for p in pts])
    for datum in Datum:
        vx, vy = from_wgs84_arrays(lon, lat, datum)
        for i, (x, y) in enumerate(pts):
            sx, sy = from_wgs84(x, y, datum)
            assert abs(vx[i] - sx) < 1e-11 and abs(vy[i] - sy) < 1e-11, (datum, x, y)
