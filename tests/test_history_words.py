"""History in words (issue 14): every kind of entry, old and new, in zh and en; both stores.

The history page must read as sentences in the page's language: no stored English reason
("verified", "restore #3", "status: temporarily_closed…"), no enum keys, no field names, no
parser text on a Chinese page — for entries written now (reason records) and for entries
written before (English reasons, recognised).
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from locator.core.domain import Facility
from locator.core.geo import WGS84_GEOD, Datum
from locator.core.history import encode_reason, parse_reason
from locator.core.hours import TZ
from locator.services.management import ManagementService
from locator.stores.contract import Actor

from .conftest import add_problem_report
from .manage_support import HAIDIAN, login, make_user, manage_demo_app

#: ASCII words a Chinese history may hold: account names and a file's suffix (data, not language).
ALLOWED_ASCII = {"root", "csv"}


@pytest.fixture
def app(demo_app_factory: Callable[..., Flask]) -> Iterator[Flask]:
    application = manage_demo_app(demo_app_factory)
    make_user(application, "root", "admin")
    make_user(application, "hd", "district_manager", districts=[HAIDIAN])
    yield application


def mg(app: Flask) -> ManagementService:
    svc: ManagementService = app.extensions["locator.manage"]
    return svc


def haidian(app: Flask, n: int) -> list[Facility]:
    found = [
        f
        for f in mg(app).locator.index.facilities()
        if f.district_adcode == HAIDIAN and f.status == "open" and f.kind == "warm_station"
    ]
    return found[:n]


def history_text(client: FlaskClient, facility_id: str, lang: str) -> str:
    page = client.get(f"/manage/f/{facility_id}/history?lang={lang}").get_data(as_text=True)
    body = page[page.index('<ol class="history"') : page.index("</ol>")]
    body = re.sub(r"<form.*?</form>", " ", body, flags=re.S)  # the restore buttons
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", body)))


def english_words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z][A-Za-z_]{2,}", text) if w not in ALLOWED_ASCII]


def test_every_history_entry_type_in_words_in_zh_and_en(app: Flask) -> None:
    m = mg(app)
    accounts = app.extensions["locator.accounts"]
    hd, root = accounts.store.get_user("hd"), accounts.store.get_user("root")
    f, g = haidian(app, 2)
    today = datetime.now(UTC).astimezone(TZ).date()
    until = today + timedelta(days=13)

    # New entries (reason records).
    a = m.update(
        hd,
        f.id,
        {
            "opening_hours": "Mo-Fr 08:00-18:00",
            "name": "海淀测试暖心驿站",
            "phone": "010-62345678",
            "host_type": "bank",
            "amenities": sorted({*f.amenities, "wifi"} - {"rest"}),
        },
        f.version,
        reason="电话和时间更新",
    )
    a = m.update(hd, f.id, {"opening_hours": "Mo-Su 08:00-20:00"}, a.version)
    lon, lat, _ = WGS84_GEOD.fwd(a.lon, a.lat, 45.0, 23.0)  # 23 m to the north-east
    a = m.update(hd, f.id, {"lon": lon, "lat": lat}, a.version, Datum.WGS84, reason="入口在东北侧")
    a = m.set_status(hd, f.id, "temporarily_closed", until=until.isoformat(), reason="暖气维修")
    a = m.set_status(hd, f.id, "open")
    a = m.verify(hd, f.id)
    first_seq = m.store.history(f.id)[0].seq
    a = m.restore(hd, f.id, first_seq, a.version, reason="改回原样")
    report = add_problem_report(m.store, f.id, "closed", "门锁着")
    m.resolve_report(hd, report.id, "resolved", "temporarily_closed", note="门卫生病")
    report = add_problem_report(m.store, f.id, "moved")
    m.resolve_report(hd, report.id, "resolved", "verified")
    a = m.store.get(f.id)
    rider = Actor(
        "rider-feedback", encode_reason("rider_confirmations", count=3, since="2026-12-01T00:00:00+00:00")
    )
    a = m.store.update(a.replace(verified_at=datetime.now(UTC)), a.version, rider)
    plan = m.apply_import(
        hd,
        [(1, {"id": f.id, "address": "海淀区某路1号", "status": "open"})],
        Datum.WGS84,
        reason="季度更新",
        file="站点.csv",
    )
    assert plan.ok
    created = m.create(
        hd,
        {
            "kind": "nursing_room",
            "name": "新建的母婴室",
            "lon": g.lon + 0.002,
            "lat": g.lat,
            "amenities": ["fridge"],
        },
        Datum.WGS84,
        reason="新设",
    )

    # Older entries: English reasons as the code used to write them.
    a = m.store.get(f.id)
    for old in (
        "verified",
        "verified: 电话确认",
        "status: temporarily_closed: 暖气维修",
        f"restore #{first_seq} (version 1)",
        "verified: rider report #7 (closed)",
        "status: temporarily_closed: rider report #8 (gone)",
        "rider report #9 (other): 看过了",
        "bulk upload 旧.csv: 旧文件",
        "bulk upload",
        "3 rider confirmations since 2026-12-01T00:00:00+00:00",
        "edited",
        "created",
    ):
        a = m.store.update(a.replace(verified_at=datetime.now(UTC)), a.version, Actor("hd", old))
    # A deleted facility's history (admins only).
    m.delete(root, created.id, created.version, reason="重复了")

    admin = app.test_client()
    assert login(admin, "root").status_code == 303
    zh = history_text(admin, f.id, "zh")
    en = history_text(admin, f.id, "en")
    zh_deleted = history_text(admin, created.id, "zh")
    en_deleted = history_text(admin, created.id, "en")

    # zh: sentences, no English.
    assert english_words(zh) == [], english_words(zh)
    assert english_words(zh_deleted) == [], english_words(zh_deleted)
    for words in (
        "开放时间改为：每天 08:00–20:00 → 周一至周五 08:00–18:00",
        "开放时间改为：周一至周五 08:00–18:00 → 每天 08:00–20:00",
        "图钉向东北移动了 23 米",
        f"状态改为暂停开放（暖气维修），至 {until.strftime('%m-%d')}",
        "状态改为正常开放",
        "已核实：检查无误",
        f"恢复到第 {first_seq} 条记录后的状态（版本 1）",
        "已处理骑手反馈 #",
        "（关门或上锁）：标记为暂停开放",
        "（已搬迁）：已检查：信息无误",
        "已处理骑手反馈 #7（关门或上锁）：已检查：信息无误",
        "已处理骑手反馈 #8（已不存在）：标记为暂停开放",
        "已处理骑手反馈 #9（其他）",
        "原因： 看过了",
        "状态改为暂停开放（门卫生病）",
        "经 3 位骑手确认属实",
        "批量上传 站点.csv",
        "原因： 季度更新",
        "新增服务：无线网络",
        "取消服务：可休息",
        "依托单位：社区服务中心 → 银行网点" if f.host_type == "community_centre" else "依托单位：",
        "名称：",
        "原因： 电话和时间更新",
        "原因： 入口在东北侧",
        "骑手",
        "已导入",
        "数据导入",
        "批量上传 旧.csv",
        "原因： 旧文件",
        "原因： 电话确认",
        "状态确认：暂停开放",
        "已编辑",
    ):
        assert words in zh, (words, zh)
    # The new status entry says its reason once, in brackets; only the old-style entry has it as a note.
    assert zh.count("原因： 暖气维修") == 1
    assert "新建" in zh_deleted and "已删除" in zh_deleted and "原因： 重复了" in zh_deleted
    assert "类型：母婴关爱室" in zh_deleted and "服务设施：冰箱" in zh_deleted

    # en: the same entries in English.
    for words in (
        "Hours changed: every day 08:00–20:00 → Mon–Fri 08:00–18:00",
        "Hours changed: Mon–Fri 08:00–18:00 → every day 08:00–20:00",
        "Pin moved 23 m to the north-east",
        f"Status changed to Temporarily closed (暖气维修) until {until.strftime('%m-%d')}",
        "Verified: checked and right",
        f"Restored the state after entry #{first_seq} (version 1)",
        "Rider report #7 (Closed or locked) handled: checked: it is right",
        "Verified by 3 riders' confirmations",
        "Bulk upload of 站点.csv",
        "Amenities added: Wi-Fi",
    ):
        assert words in en, (words, en)
    assert "Created" in en_deleted and "Deleted" in en_deleted

    # The API gives the records, not sentences: the person's words, a code and its parameters.
    entries = json.loads(admin.get(f"/api/v1/facilities/{f.id}/history").get_data(as_text=True))["entries"]
    by_code: dict[str | None, dict] = {}
    for e in entries:  # the first (new-style) entry of each code
        by_code.setdefault(e["reason_code"], e)
    assert by_code["restore"]["reason"] == "改回原样"
    assert by_code["restore"]["reason_params"] == {"seq": first_seq, "version": 1}
    assert by_code["status"]["reason_params"]["status"] in {"temporarily_closed", "open"}
    assert by_code["bulk"]["reason_params"] == {"file": "站点.csv"} or by_code["bulk"]["reason_params"] == {
        "file": "old.csv"
    }
    assert entries[1]["reason"] == "电话和时间更新" and entries[1]["reason_code"] is None


def test_a_note_that_looks_like_a_record_is_kept_as_words() -> None:
    text = encode_reason("", '{"code":"verified"}')
    assert parse_reason(text).code == "" and parse_reason(text).note == '{"code":"verified"}'
