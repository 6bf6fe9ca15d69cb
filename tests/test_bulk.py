"""Bulk upload (dry run, then all-or-nothing apply) and export, scoped."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import Workbook, load_workbook

from locator.core.domain import Facility
from locator.core.geo import Datum, from_wgs84, geodesic_distance_m
from locator.core.history import parse_reason
from locator.errors import ImportRejectedError, ValidationError, VersionConflictError
from locator.formats.bulk import export_csv, export_geojson, export_xlsx, read_upload
from locator.services.management import ManagementService
from locator.stores.contract import User

from .manage_support import CHAOYANG, HAIDIAN, login, make_user, manage_demo_app, page_csrf

HD = User("hd", "district_manager", "x", districts=frozenset({HAIDIAN}))
ADMIN = User("root", "admin", "x")
FORMULA = '=HYPERLINK("http://evil.example","click")'


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask], tmp_path: Path) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory, LOCATOR_UPLOAD_DIR=str(tmp_path / "uploads"))
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application
    application.extensions["locator"].store.close()


@pytest.fixture
def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def haidian(mg: ManagementService, n: int = 3) -> list[Facility]:
    return [f for f in mg.locator.index.facilities() if f.district_adcode == HAIDIAN and f.status == "open"][
        :n
    ]


def chaoyang(mg: ManagementService) -> Facility:
    return next(f for f in mg.locator.index.facilities() if f.district_adcode == CHAOYANG)


def csv_bytes(rows: list[dict[str, str]]) -> bytes:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=keys)
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


# --- reading and writing files -----------------------------------------------------------------


def test_read_csv_xlsx_geojson() -> None:
    rows = [{"name": "A", "kind": "warm_station", "lon": "116.3", "lat": "39.99", "phone": "01062345678"}]
    csv_records = read_upload("x.csv", csv_bytes(rows))
    wb = Workbook()
    ws = wb.active
    ws.append([])  # blank rows before the header are skipped
    ws.append(["name", "kind", "lon", "lat", "phone"])
    ws.append(["A", "warm_station", 116.3, 39.99, 1062345678])
    buf = io.BytesIO()
    wb.save(buf)
    xlsx_records = read_upload("x.XLSX", buf.getvalue())
    gj = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [116.3, 39.99]},
                "properties": {"name": "A", "kind": "warm_station", "phone": "01062345678"},
            }
        ],
    }
    gj_records = read_upload("x.geojson", json.dumps(gj).encode())
    assert csv_records == [(1, rows[0])]
    assert xlsx_records == [(1, {**rows[0], "phone": "1062345678"})]
    assert gj_records[0][0] == 1 and gj_records[0][1]["name"] == "A" and gj_records[0][1]["lon"] == 116.3


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("x.txt", b"a", "upload a .csv"),
        ("x.csv", b"", "empty"),
        ("x.xlsx", b"not a zip", "cannot read the XLSX"),
        ("x.geojson", b"{nope", "cannot read"),
    ],
)
def test_unreadable_uploads(name: str, data: bytes, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        read_upload(name, data)


def test_exports_are_wgs84_and_spreadsheet_safe(mg: ManagementService) -> None:
    f = haidian(mg, 1)[0].replace(name=FORMULA, phone="+86 10 6234 5678", address="-1 层")
    rows = list(csv.DictReader(io.StringIO(export_csv([f]).decode("utf-8-sig"))))
    assert rows[0]["name"] == "'" + FORMULA and rows[0]["phone"] == "+86 10 6234 5678"
    assert rows[0]["address"] == "'-1 层" and rows[0]["lon"] == f"{f.lon:.7f}"
    ws = load_workbook(io.BytesIO(export_xlsx([f]))).active
    header = [c.value for c in ws[1]]
    name_cell = ws.cell(row=2, column=header.index("name") + 1)
    assert name_cell.data_type == "s" and name_cell.value == "'" + FORMULA
    feats = json.loads(export_geojson([f]))["features"]
    assert feats[0]["geometry"]["coordinates"] == [round(f.lon, 7), round(f.lat, 7)]
    # The leading ' is removed again on upload: an export round-trips unchanged.
    back = read_upload("x.csv", export_csv([f]))
    assert back[0][1]["name"] == FORMULA and back[0][1]["address"] == "-1 层"
    back = read_upload("x.xlsx", export_xlsx([f]))
    assert back[0][1]["name"] == FORMULA


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_reports_every_row_and_writes_nothing(mg: ManagementService) -> None:
    a, b, c = haidian(mg)
    other = chaoyang(mg)
    revision = mg.store.revision()
    records = [
        (1, {"name": "全新驿站", "kind": "warm_station", "lon": str(a.lon + 0.01), "lat": str(a.lat)}),
        (2, {"id": a.id, "lon": str(a.lon + 0.001), "lat": str(a.lat), "phone": "010-1"}),
        (3, {"id": b.id, "name": b.name}),
        (4, {"name": "x", "kind": "spa", "lon": str(a.lon), "lat": str(a.lat)}),
        (5, {"name": "x", "kind": "warm_station"}),
        (
            6,
            {
                "name": "朝阳新站",
                "kind": "warm_station",
                "lon": str(other.lon),
                "lat": str(other.lat + 0.001),
            },
        ),
        (7, {"id": other.id, "name": "改朝阳的"}),
        (8, {"id": a.id, "name": "again"}),
        (9, {"id": c.id, "lon": str(other.lon), "lat": str(other.lat)}),
        (10, {"name": c.name, "kind": c.kind, "lon": str(c.lon), "lat": str(c.lat + 0.0001), "color": "red"}),
    ]
    plan = mg.plan_import(HD, records, Datum.WGS84)
    by_row = {r.row: r for r in plan.rows}
    assert by_row[1].action == "new" and by_row[1].facility_id.startswith("f-")
    assert by_row[2].action == "update" and by_row[2].changed == ["lon", "phone"]
    assert 80 < by_row[2].moved_m < 90
    assert by_row[3].action == "unchanged"
    assert (by_row[4].action, by_row[4].param) == ("error", "kind")
    assert (by_row[5].action, by_row[5].param) == ("error", "location")
    assert by_row[6].action == "error" and "outside your district" in by_row[6].error
    assert by_row[7].action == "error" and "outside your district" in by_row[7].error
    assert by_row[8].action == "error" and "duplicate id" in by_row[8].error
    assert by_row[9].action == "error" and "out of your district" in by_row[9].error
    assert by_row[10].action == "new" and [w.facility.id for w in by_row[10].duplicates] == [c.id]
    assert plan.ignored_columns == ["color"]
    assert not plan.ok
    assert mg.store.revision() == revision


def test_duplicates_within_the_file(mg: ManagementService) -> None:
    a = haidian(mg, 1)[0]
    lon, lat = a.lon + 0.02, a.lat
    records = [
        (1, {"name": "新桥驿站", "kind": "warm_station", "lon": str(lon), "lat": str(lat)}),
        (2, {"name": "新桥 驿站", "kind": "warm_station", "lon": str(lon), "lat": str(lat + 0.0001)}),
    ]
    plan = mg.plan_import(HD, records, Datum.WGS84)
    assert plan.ok
    (row, dist, reasons) = plan.rows[0].file_duplicates[0]
    assert row == 2 and 10 < dist < 12 and reasons == ("same_kind", "similar_name")


# --- apply ---------------------------------------------------------------------------------------


def test_apply_writes_all_rows_in_one_revision_with_history(mg: ManagementService) -> None:
    a, b, _ = haidian(mg)
    glon, glat = from_wgs84(a.lon + 0.01, a.lat, Datum.GCJ02)
    blon, blat = from_wgs84(b.lon, b.lat + 0.0005, Datum.GCJ02)
    records = [
        (1, {"id": "hd-new-1", "name": "新站", "kind": "nursing_room", "lon": glon, "lat": glat}),
        (2, {"id": b.id, "lon": blon, "lat": blat}),
    ]
    revision = mg.store.revision()
    plan = mg.apply_import(HD, records, Datum.GCJ02, reason="spring update")
    assert (plan.count("new"), plan.count("update")) == (1, 1)
    assert mg.store.revision() == revision + 1
    new = mg.store.get("hd-new-1")
    assert geodesic_distance_m(new.lon, new.lat, a.lon + 0.01, a.lat) < 0.05
    moved = mg.store.get(b.id)
    assert geodesic_distance_m(moved.lon, moved.lat, b.lon, b.lat + 0.0005) < 0.05
    assert moved.name == b.name and moved.amenities == b.amenities  # a partial update
    last = mg.store.history(b.id)[-1]
    assert (last.action, last.actor, last.reason) == ("import", "hd", "spring update")
    assert mg.locator.index.get("hd-new-1") is not None


def test_apply_is_all_or_nothing(mg: ManagementService) -> None:
    a = haidian(mg, 1)[0]
    revision, count = mg.store.revision(), mg.store.count()
    records = [
        (1, {"name": "ok", "kind": "warm_station", "lon": a.lon + 0.01, "lat": a.lat}),
        (2, {"id": a.id, "opening_hours": "whenever"}),
    ]
    with pytest.raises(ImportRejectedError) as info:
        mg.apply_import(HD, records, Datum.WGS84)
    assert info.value.row_errors[0][:2] == (2, "opening_hours")
    assert (mg.store.revision(), mg.store.count()) == (revision, count)


def test_apply_refuses_when_a_row_changed_since_the_dry_run(mg: ManagementService) -> None:
    a, b, _ = haidian(mg)
    records = [(1, {"id": a.id, "phone": "010-2"}), (2, {"id": b.id, "name": b.name})]
    plan = mg.plan_import(HD, records, Datum.WGS84)
    mg.update(ADMIN, b.id, {"name": "colleague's fix"}, b.version)  # b was "unchanged" in the dry run
    with pytest.raises(VersionConflictError, match=b.id):
        mg.apply_import(HD, records, Datum.WGS84, dry_run_versions=plan.seen)
    assert mg.store.get(b.id).name == "colleague's fix" and mg.store.get(a.id).phone == a.phone


def test_station_manager_uploads_only_update_their_own(mg: ManagementService) -> None:
    a, b, _ = haidian(mg)
    sm = User("sm", "station_manager", "x", facilities=frozenset({a.id}))
    plan = mg.plan_import(
        sm,
        [
            (1, {"id": a.id, "phone": "010-3"}),
            (2, {"id": b.id, "phone": "010-3"}),
            (3, {"name": "n", "kind": "warm_station", "lon": a.lon, "lat": a.lat}),
        ],
        Datum.WGS84,
    )
    assert [r.action for r in plan.rows] == ["update", "error", "error"]


def test_export_round_trip_is_unchanged(mg: ManagementService) -> None:
    mine = mg.facilities(HD)
    for writer, name in ((export_csv, "x.csv"), (export_xlsx, "x.xlsx"), (export_geojson, "x.geojson")):
        plan = mg.plan_import(HD, read_upload(name, writer(mine)), Datum.WGS84)
        assert plan.ok, [r for r in plan.rows if r.action == "error"][:3]
        assert {r.action for r in plan.rows} == {"unchanged"}, name


# --- over HTTP -----------------------------------------------------------------------------------


@pytest.fixture
def hd(app: Flask) -> FlaskClient:
    client = app.test_client()
    login(client, "hd")
    return client


def upload(client: FlaskClient, data: bytes, name: str = "stations.csv", datum: str = "wgs84"):  # type: ignore[no-untyped-def]
    return client.post(
        "/manage/bulk/dry-run",
        data={
            "csrf_token": page_csrf(client, "/manage/bulk"),
            "datum": datum,
            "file": (io.BytesIO(data), name),
        },
        content_type="multipart/form-data",
    )


def test_upload_dry_run_then_apply(app: Flask, mg: ManagementService, hd: FlaskClient) -> None:
    a = haidian(mg, 1)[0]
    data = csv_bytes(
        [
            {
                "id": a.id,
                "name": a.name,
                "kind": a.kind,
                "lon": f"{a.lon + 0.0003:.7f}",
                "lat": f"{a.lat:.7f}",
            },
            {
                "id": "",
                "name": "上传的新站",
                "kind": "warm_station",
                "lon": f"{a.lon + 0.02:.7f}",
                "lat": f"{a.lat:.7f}",
            },
        ]
    )
    resp = upload(hd, data)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "新增1个，更新1个，无变化0个，有错误0个。" in html
    assert re.search(r"位置移动2[56]\.\d米", html)
    assert mg.store.get(a.id).lon == a.lon  # nothing stored yet
    token = re.search(r'name="upload" value="([^"]+)"', html).group(1)
    # Apply needs the CSRF token, and the upload belongs to its uploader.
    assert hd.post("/manage/bulk/apply", data={"upload": token}).status_code == 400
    make_user(app, "other", "admin")
    other = app.test_client()
    login(other, "other")
    assert (
        other.post("/manage/bulk/apply", data={"csrf_token": page_csrf(other), "upload": token}).status_code
        == 400
    )
    resp = hd.post(
        "/manage/bulk/apply", data={"csrf_token": page_csrf(hd), "upload": token, "reason": "季度更新"}
    )
    assert resp.status_code == 303
    assert "新增1个，更新1个" in hd.get("/manage").get_data(as_text=True)
    assert abs(mg.store.get(a.id).lon - (a.lon + 0.0003)) < 1e-9
    why = parse_reason(mg.store.history(a.id)[-1].reason)
    assert (why.code, why.params, why.note) == ("bulk", {"file": "stations.csv"}, "季度更新")
    again = hd.post("/manage/bulk/apply", data={"csrf_token": page_csrf(hd), "upload": token})
    assert again.status_code == 400 and "已过期" in again.get_data(as_text=True)


def test_upload_must_declare_its_datum(mg: ManagementService, hd: FlaskClient) -> None:
    a = haidian(mg, 1)[0]
    resp = upload(hd, csv_bytes([{"id": a.id, "phone": "1"}]), datum="")
    assert resp.status_code == 400 and "注明文件中坐标所用的坐标系" in resp.get_data(as_text=True)


def test_upload_with_errors_offers_no_apply(mg: ManagementService, hd: FlaskClient) -> None:
    other = chaoyang(mg)
    resp = upload(hd, csv_bytes([{"id": other.id, "name": "抢过来"}]))
    html = resp.get_data(as_text=True)
    assert "不在您负责的辖区内" in html and 'name="upload"' not in html


def test_export_over_http_is_the_scope(mg: ManagementService, hd: FlaskClient) -> None:
    resp = hd.get("/manage/export.csv")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert (
        "attachment" in resp.headers["Content-Disposition"] and "wgs84" in resp.headers["Content-Disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(resp.get_data().decode("utf-8-sig"))))
    assert {r["district_adcode"] for r in rows} == {HAIDIAN}
    assert len(rows) == len(mg.facilities(HD))
    assert hd.get("/manage/export.xlsx").status_code == 200
    gj = hd.get("/manage/export.geojson")
    assert gj.mimetype == "application/geo+json" and len(gj.get_json()["features"]) == len(rows)
    assert hd.get("/manage/export.pdf").status_code == 404


# --- the store's checked batch (conformance: conftest's ``store``, every backend) ---------------


def _f(fid: str, **kw: object) -> Facility:
    return Facility(fid, "warm_station", kw.pop("name", fid), 116.3, 39.9, **kw)  # type: ignore[arg-type]


def test_write_batch_checks_every_version(store) -> None:
    from locator.errors import ConflictError
    from locator.stores.contract import CheckedBatchStore

    assert isinstance(store, CheckedBatchStore)
    a = store.add(_f("a"))
    assert store.write_batch([_f("a", name="A2"), _f("b")], {"a": a.version, "b": None}) == 2
    assert store.get("a").version == 2 and store.get("b").version == 1
    assert [e.action for e in store.history("a")] == ["create", "import"]
    revision = store.revision()
    with pytest.raises(VersionConflictError) as info:
        store.write_batch([_f("c"), _f("a", name="A3")], {"c": None, "a": 1})
    assert info.value.current_version == 2
    with pytest.raises(VersionConflictError):
        store.write_batch([_f("b", name="B2")], {"b": None})  # exists already
    with pytest.raises(ConflictError):
        store.write_batch([_f("d"), _f("d")], {"d": None})
    with pytest.raises(ValueError):
        store.write_batch([_f("e")], {})
    assert store.revision() == revision
    assert store.get("a").name == "A2" and store.count() == 2
