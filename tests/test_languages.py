"""Languages: zh by default, English by Accept-Language or the switch (remembered), no stray words."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

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
