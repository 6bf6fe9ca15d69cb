"""Request-body caps (locator.http.bodies) and spreadsheet expansion limits (formats.bulk)."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from openpyxl import Workbook

from locator.errors import ValidationError
from locator.formats.bulk import check_zip_expansion, read_upload

from .manage_support import demo_copy, login, make_user, page_csrf

FACILITY = "demo-osm-node-5448567458"


@pytest.fixture
def app(tmp_path: Path, demo_db: Path) -> Iterator[Flask]:
    application = demo_copy(tmp_path, demo_db, LOCATOR_MAX_JSON_BYTES="4096", LOCATOR_MAX_FORM_BYTES="8192")
    yield application
    application.extensions["locator"].store.close()


def test_an_announced_huge_json_body_is_refused_before_it_is_read(app: Flask) -> None:
    """The 300 MB feedback post: Content-Length alone decides; nothing is read or stored."""
    before = len(app.extensions["locator"].store.list_feedback(FACILITY))
    environ = {"CONTENT_LENGTH": str(300 * 2**20), "CONTENT_TYPE": "application/json"}
    started = time.perf_counter()
    r = app.test_client().post(
        f"/api/v1/facilities/{FACILITY}/feedback", data=b"{}", environ_overrides=environ
    )
    assert time.perf_counter() - started < 3.0  # answered, not read (a bound for loaded CI cores)
    assert r.status_code == 413
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["limit_bytes"] == 4096 and body["param"] == "body"
    assert len(app.extensions["locator"].store.list_feedback(FACILITY)) == before


def test_a_json_body_over_the_cap_is_refused(app: Flask) -> None:
    r = app.test_client().post(
        f"/api/v1/facilities/{FACILITY}/feedback",
        json={"verdict": "problem", "reason": "other", "comment": "x" * 5000},
    )
    assert r.status_code == 413
    assert r.mimetype == "application/problem+json"


def test_a_chunked_body_is_cut_off_at_the_cap(app: Flask) -> None:
    """No Content-Length: werkzeug stops reading at the cap (the server says the stream ends)."""

    def chunks() -> Iterator[bytes]:
        yield b'{"verdict": "problem", "comment": "'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"}'

    r = app.test_client().post(
        f"/api/v1/facilities/{FACILITY}/feedback",
        input_stream=io.BytesIO(b"".join(chunks())),
        content_type="application/json",
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert r.status_code == 413


def test_a_small_body_still_works(app: Flask) -> None:
    r = app.test_client().post(f"/api/v1/facilities/{FACILITY}/feedback", json={"verdict": "confirm"})
    assert r.status_code == 201


def test_a_form_over_the_form_cap_gets_the_413_page(app: Flask) -> None:
    r = app.test_client().post("/login", data={"username": "x" * 20_000, "password": "y"})
    assert r.status_code == 413
    assert r.mimetype == "text/html"


def test_the_upload_cap_is_larger_and_configurable(tmp_path: Path, demo_db: Path) -> None:
    app = demo_copy(tmp_path, demo_db, LOCATOR_MAX_UPLOAD_BYTES="20000")
    try:
        make_user(app, "root", "admin")
        client = app.test_client()
        login(client, "root")
        token = page_csrf(client, "/manage/bulk")
        big = b"id,kind,name,lon,lat\n" + b"a,warm_station,n,116.3,39.9\n" * 2000
        r = client.post(
            "/manage/bulk/dry-run",
            data={"csrf_token": token, "datum": "wgs84", "file": (io.BytesIO(big), "big.csv")},
            content_type="multipart/form-data",
        )
        assert r.status_code == 413
    finally:
        app.extensions["locator"].store.close()


def _xlsx_bomb(expanded_mb: int) -> bytes:
    """A real workbook whose sheet is padded to ``expanded_mb`` MB of whitespace."""
    wb = Workbook()
    wb.active.append(["id", "kind", "name", "lon", "lat"])
    buf = io.BytesIO()
    wb.save(buf)
    out = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</worksheet>", b" " * (expanded_mb * 2**20) + b"</worksheet>")
            dst.writestr(item, data)
    return out.getvalue()


def test_an_xlsx_bomb_is_refused_fast_with_a_clear_message() -> None:
    bomb = _xlsx_bomb(200)
    assert len(bomb) < 2 * 2**20  # a small upload…
    started = time.perf_counter()
    with pytest.raises(ValidationError) as caught:
        read_upload("bomb.xlsx", bomb)
    assert time.perf_counter() - started < 3.0  # refused before parsing 200 MB (loaded CI cores)
    assert caught.value.param == "file"
    assert "expands to 200 MB" in caught.value.detail


def test_a_highly_compressed_member_is_refused() -> None:
    with pytest.raises(ValidationError, match="zip bomb"):
        check_zip_expansion(_xlsx_bomb(8), max_bytes=64 * 2**20, max_ratio=200, max_members=500)


def test_a_normal_workbook_passes_the_expansion_check() -> None:
    wb = Workbook()
    wb.active.append(["id", "kind", "name", "lon", "lat"])
    for i in range(2000):
        wb.active.append([f"x{i}", "warm_station", f"站点 {i}", 116.3, 39.9])
    buf = io.BytesIO()
    wb.save(buf)
    rows = read_upload("ok.xlsx", buf.getvalue())
    assert len(rows) == 2000


def test_the_bulk_page_reports_a_bomb_as_a_row_less_error(tmp_path: Path, demo_db: Path) -> None:
    app = demo_copy(tmp_path, demo_db)
    try:
        make_user(app, "root", "admin")
        client = app.test_client()
        login(client, "root")
        token = page_csrf(client, "/manage/bulk")
        r = client.post(
            "/manage/bulk/dry-run",
            data={"csrf_token": token, "datum": "wgs84", "file": (io.BytesIO(_xlsx_bomb(200)), "bomb.xlsx")},
            content_type="multipart/form-data",
            headers={"Accept-Language": "en"},
        )
        assert r.status_code == 400
        assert "expands to 200 MB" in r.get_data(as_text=True)
        assert client.get("/manage").status_code == 200  # the worker is fine
    finally:
        app.extensions["locator"].store.close()
