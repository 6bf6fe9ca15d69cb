"""Languages: zh by default, English by Accept-Language or the switch (remembered), no stray words."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.formats.bulk import bulk_columns

from .conftest import add_problem_report
from .manage_support import demo_copy, login, make_user, page_csrf

WUDAOKOU = "lon=116.3376&lat=39.9925"
PAGES = [
    "/",
    f"/nearest?{WUDAOKOU}",
    "/nearest?kind=union_home",
    "/places?q=五道口",
    f"/lite?{WUDAOKOU}",
    "/lite",
    "/map",
    "/no-such-page",
    "/nearest?lon=x&lat=1",
]
# Words that are the same in both languages (names, licences) or deliberately bilingual.
ALLOWED_ASCII = {"OpenStreetMap", "ODbL", "English", "demo", "lang", "PH"}
# Parameter names quoted in translated error details ("lon 必须是数字"): identifiers, the same
# in both languages.
ALLOWED_ASCII |= {"lon", "lat"}


class _Text(HTMLParser):
    """Visible text plus the attributes a user hears or sees (aria-label, title, placeholder, alt)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag in {"script", "style", "code"} or ("lang", "en") in attrs:
            self._skip += 1
            return
        for name, value in attrs:
            if name in {"aria-label", "title", "placeholder", "alt"} and value:
                self.parts.append(value)

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in {"script", "style", "code"} and self._skip:
            self._skip -= 1

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    # Elements marked lang="en" (the "English" switch, technical details) are skipped whole.
    html = re.sub(r'<(\w+)[^>]*\blang="en"[^>]*>.*?</\1>', " ", html, flags=re.S)
    p = _Text()
    p.feed(html)
    return " ".join(p.parts)


@pytest.mark.parametrize("url", PAGES)
def test_chinese_pages_have_no_untranslated_english(demo_client, url: str) -> None:
    html = demo_client.get(url, headers={"Accept": "text/html"}).get_data(as_text=True)
    words = set(re.findall(r"[A-Za-z]{3,}", visible_text(html))) - ALLOWED_ASCII
    assert words == set(), words


# --- the management pages ------------------------------------------------------------------------

MANAGE_PAGES = [
    "/login",
    "/manage",
    "/manage/new",
    "/manage/f/{id}/edit",
    "/manage/f/{id}/history",
    "/manage/reports",
    "/manage/stale",
    "/manage/bulk",
]
# Technical tokens kept as they are in Chinese: datums and file formats.
MANAGE_ALLOWED = ALLOWED_ASCII | {"WGS", "GCJ", "GPS", "CSV", "XLSX", "GeoJSON"}
#: The bulk page shows the column names and the keys of their values as a file must hold
#: them, beside their Chinese labels (issue 14: "in Chinese and as keys"), and names the
#: syntaxes cells follow (OSM opening_hours, YYYY-MM-DD, ISO date-times).
BULK_KEYS = {
    word
    for column in bulk_columns()
    for word in re.findall(r"[A-Za-z]{3,}", " ".join([column.name, *(column.values or {})]))
} | {"OSM", "ISO", "YYYY"}

#: Free-text fields: whatever they hold is data, not interface.
_TEXT_FIELDS = ("name", "address", "phone", "opening_hours", "source", "status_reason")


def _words(text: object) -> set[str]:
    return set(re.findall(r"[A-Za-z]{3,}", str(text)))


def data_words(app: Flask, facility_id: str) -> set[str]:
    """ASCII words that come from data: facilities' texts, user names, one facility's history.

    Keys of controlled vocabularies (kinds, statuses, amenities, host types) are not data:
    the pages must show them as labels.
    """
    store = app.extensions["locator"].store
    words: set[str] = set()
    for f in store.all():
        for name in _TEXT_FIELDS:
            words |= _words(getattr(f, name))
    for u in store.list_users():
        words |= _words(u.name)
    for e in store.history(facility_id):
        words |= _words(e.actor) | _words(e.reason)
        for name, pair in e.changes.items():
            if name in _TEXT_FIELDS:
                words |= _words(pair)
    return words


def _flash(client: FlaskClient, resp) -> str:  # type: ignore[no-untyped-def]
    """Follow a form's 303 and return the flashed message it left."""
    assert resp.status_code == 303, resp.status_code
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    m = re.search(r'<p class="flash (?:success|info|warning|error)" role="status">([^<]*)</p>', html)
    assert m, "no flashed message"
    return m.group(1)


@pytest.fixture
def managed(tmp_path: Path, demo_db: Path) -> Iterator[tuple[Flask, FlaskClient, str, list[str]]]:
    """An admin logged in (zh) after an edit, a status change, a verification and rider reports.

    Yields the app, the client, the edited facility's id and the messages the actions flashed.
    """
    app = demo_copy(tmp_path, demo_db, LOCATOR_UPLOAD_DIR=str(tmp_path / "uploads"))
    make_user(app, "root", "admin")
    client = app.test_client()
    assert login(client, "root").status_code == 303
    mg = app.extensions["locator.manage"]
    f, other, third = [x for x in mg.locator.index.facilities() if x.status == "open"][:3]
    token = page_csrf(client)
    flashed = []
    edit = {
        "csrf_token": token,
        "version": str(f.version),
        "kind": f.kind,
        "name": f.name + "（改）",
        "address": f.address,
        "amenities": sorted(f.amenities),
        "opening_hours": f.opening_hours,
        "phone": f.phone,
        "host_type": f.host_type,
        "reason": "核对名称",
    }
    flashed.append(_flash(client, client.post(f"/manage/f/{f.id}/edit", data=edit)))
    flashed.append(_flash(client, client.post(f"/manage/f/{f.id}/edit", data={**edit, "version": "2"})))
    status = {"csrf_token": token, "version": "2", "status": "temporarily_closed", "reason": "装修"}
    flashed.append(_flash(client, client.post(f"/manage/f/{f.id}/status", data=status)))
    flashed.append(_flash(client, client.post(f"/manage/f/{f.id}/status", data=status)))  # stale version
    flashed.append(_flash(client, client.post(f"/manage/f/{f.id}/verify", data={"csrf_token": token})))
    add_problem_report(mg.store, other.id, "closed", "门锁着")
    done = add_problem_report(mg.store, third.id, "gone", "拆了")
    resolve = {"csrf_token": token, "resolution": "resolved", "action": "verified", "note": "打电话确认"}
    flashed.append(_flash(client, client.post(f"/manage/reports/{done.id}/resolve", data=resolve)))
    yield app, client, f.id, flashed
    app.extensions["locator"].store.close()


def untranslated(html: str, allowed: set[str]) -> set[str]:
    """English words of a zh page that are neither technical tokens nor ``allowed`` (data)."""
    assert '<html lang="zh' in html
    return _words(visible_text(html)) - MANAGE_ALLOWED - allowed


@pytest.mark.parametrize("url", MANAGE_PAGES)
def test_chinese_manage_pages_have_no_untranslated_english(managed, url: str) -> None:
    app, client, fid, _ = managed
    if url == "/login":
        client = app.test_client()
    resp = client.get(url.format(id=fid), headers={"Accept": "text/html"})
    assert resp.status_code == 200
    keys = BULK_KEYS if url == "/manage/bulk" else set()
    assert untranslated(resp.get_data(as_text=True), data_words(app, fid) | keys) == set()


def test_chinese_flash_messages(managed) -> None:
    app, _, fid, flashed = managed
    assert len(flashed) == 6
    assert flashed[1] == "没有任何修改。" and flashed[3] == "其他人刚刚修改了此站点，请核对后重试。"
    assert flashed[5].startswith("反馈 #") and "已处理：" in flashed[5]
    for text in flashed:
        assert re.search(r"[\u4e00-\u9fff]", text) and _words(text) - data_words(app, fid) == set(), text


def test_chinese_bulk_dry_run(managed) -> None:
    app, client, fid, _ = managed
    f = app.extensions["locator.manage"].store.get(fid)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["id", "name", "kind", "lon", "lat"])
    w.writeheader()
    moved = {"lon": f"{f.lon + 0.0003:.7f}", "lat": f"{f.lat:.7f}"}
    near = {"lon": f"{f.lon:.7f}", "lat": f"{f.lat + 0.0001:.7f}"}
    w.writerow({"id": f.id, "name": f.name, "kind": f.kind, **moved})  # an update that moves it
    w.writerow({"id": "", "name": f.name, "kind": f.kind, **near})  # a new row: a likely duplicate
    w.writerow({"id": "", "name": "坏行", "kind": "warm_station", "lon": "x", "lat": "1"})
    resp = client.post(
        "/manage/bulk/dry-run",
        data={
            "csrf_token": page_csrf(client),
            "datum": "wgs84",
            "file": (io.BytesIO(buf.getvalue().encode()), "stations.csv"),
        },
        content_type="multipart/form-data",
    )
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "位置移动" in html and "第1行" in html and "30米内有同类站点" in html
    # A row's error is the service's message (English, as in the API); the rest is Chinese.
    html = re.sub(r'<tr class="row-error".*?</tr>', "", html, flags=re.S)
    assert untranslated(html, data_words(app, fid) | BULK_KEYS | {"stations", "csv"}) == set()


@pytest.mark.parametrize("url", PAGES)
def test_english_pages_only_show_chinese_in_data(demo_client, url: str) -> None:
    html = demo_client.get(url, headers={"Accept": "text/html", "Accept-Language": "en"}).get_data(
        as_text=True
    )
    assert '<html lang="en"' in html
    text = visible_text(html)
    # Chinese may appear in facility names, addresses, district names, the demo mark and the switch.
    for run in re.findall(r"[\u4e00-\u9fff][\u4e00-\u9fff·（）]*", text):
        assert run.startswith("示例") or run in DATA_TERMS or _is_place(run), run


DATA_TERMS = {"示例", "中文"}


def _is_place(run: str) -> bool:
    return (
        bool(
            re.search(
                r"(区|街道|地区|镇|乡|站|口|附近|路|村|园|楼|院|门|桥|庄|里|城|中心|广场|大厦|公园|[东西南北])",
                run,
            )
        )
        or len(run) <= 6
    )


def test_switch_is_visible_and_remembered(demo_client) -> None:
    html = demo_client.get("/").get_data(as_text=True)
    assert re.search(r'<a href="/\?lang=en" hreflang="en" lang="en">English</a>', html)
    r = demo_client.get("/?lang=en")
    assert "lang=en" in r.headers.get("Set-Cookie", "") and "SameSite=Lax" in r.headers["Set-Cookie"]
    # the cookie now wins over Accept-Language on pages without ?lang=
    assert "Find the nearest open one" in demo_client.get("/", headers={"Accept-Language": "zh-CN"}).get_data(
        as_text=True
    )
    demo_client.get("/?lang=zh")
    assert "查找最近" in demo_client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Set-Cookie" not in demo_client.get("/api/v1/nearest?lon=116.3&lat=39.9&lang=en").headers


def test_kind_and_amenity_labels_in_both_languages(demo_client) -> None:
    zh = demo_client.get(f"/nearest?{WUDAOKOU}&kind=warm_station").get_data(as_text=True)
    en = demo_client.get(f"/nearest?{WUDAOKOU}&kind=warm_station&lang=en").get_data(as_text=True)
    assert "户外劳动者暖心驿站" in zh and "可加热饭菜" in zh
    assert "Outdoor workers' warm station" in en.replace("&#39;", "'") and "Food heating" in en
