"""Reverse proxies and hosts: ProxyFix by LOCATOR_TRUSTED_PROXIES; absolute URLs only from
LOCATOR_PUBLIC_URL (never the Host header); unknown hosts refused when it is set."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask

from .conftest import make_app

EVIL = "evil.example"
NEAREST = "/api/v1/nearest?lon=116.3376&lat=39.9925&limit=1"


@pytest.fixture
def make(tmp_path: Path, demo_db: Path) -> Iterator[Callable[..., Flask]]:
    apps: list[Flask] = []

    def _make(**config: object) -> Flask:
        path = tmp_path / f"d{len(apps)}.sqlite3"
        shutil.copy(demo_db, path)
        app = make_app(path, **config)
        apps.append(app)
        return app

    yield _make
    for app in apps:
        app.extensions["locator"].store.close()


PAGES_WITH_LINKS = [
    "/ogc",
    "/ogc/collections",
    "/ogc/collections/warm_station/items?limit=2",
    "/api/v1/facilities?limit=2",
    "/embed/map?lon=116.3376&lat=39.9925",
    "/nearest?lon=116.3376&lat=39.9925",
    "/embed?partner=acme",
]


@pytest.mark.parametrize("url", PAGES_WITH_LINKS)
def test_a_forged_host_never_reaches_a_link(make: Callable[..., Flask], url: str) -> None:
    app = make()
    r = app.test_client().get(url, headers={"Host": EVIL})
    assert r.status_code == 200, url
    assert EVIL not in r.get_data(as_text=True)


def test_links_are_site_relative_without_a_public_url(make: Callable[..., Flask]) -> None:
    body = make().test_client().get("/ogc").get_json()
    assert all(link["href"].startswith("/") for link in body["links"])


def test_links_are_absolute_with_the_public_url(make: Callable[..., Flask]) -> None:
    app = make(LOCATOR_PUBLIC_URL="https://map.example.cn")
    client = app.test_client()
    body = client.get("/ogc", headers={"Host": "map.example.cn"}).get_json()
    assert all(link["href"].startswith("https://map.example.cn/") for link in body["links"])
    feed = client.get("/api/v1/facilities?limit=1", headers={"Host": "map.example.cn"}).get_json()
    assert {link["rel"] for link in feed["links"]} >= {"self", "next"}
    assert all(link["href"].startswith("https://map.example.cn/api/v1/facilities?") for link in feed["links"])


def test_unknown_hosts_are_refused_when_the_public_url_is_set(make: Callable[..., Flask]) -> None:
    client = make(LOCATOR_PUBLIC_URL="https://map.example.cn").test_client()
    assert client.get(NEAREST, headers={"Host": "map.example.cn"}).status_code == 200
    assert client.get(NEAREST, headers={"Host": "127.0.0.1:8000"}).status_code == 200  # probes on the box
    refused = client.get(NEAREST, headers={"Host": EVIL})
    assert refused.status_code == 400


def test_without_trusted_proxies_forwarded_headers_are_ignored(make: Callable[..., Flask]) -> None:
    app = make(LOCATOR_RATELIMIT_KEYLESS="2 per minute")
    client = app.test_client()
    codes = [client.get(NEAREST, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code for i in range(3)]
    assert codes == [200, 200, 429]  # one client (the proxy's address) whatever the header says


def test_with_one_trusted_proxy_each_client_has_its_own_allowance(make: Callable[..., Flask]) -> None:
    app = make(LOCATOR_RATELIMIT_KEYLESS="2 per minute", LOCATOR_TRUSTED_PROXIES="1")
    client = app.test_client()
    for i in range(3):
        ip = {"X-Forwarded-For": f"203.0.113.{i}"}
        assert client.get(NEAREST, headers=ip).status_code == 200
        assert client.get(NEAREST, headers=ip).status_code == 200
    third = client.get(NEAREST, headers={"X-Forwarded-For": "203.0.113.0"})
    assert third.status_code == 429
    spoofed = client.get(NEAREST, headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.0"})
    assert spoofed.status_code == 429  # only the address the trusted proxy added counts


@pytest.mark.parametrize("bad", ["ftp://x.example", "https://x.example/path", "not a url"])
def test_the_public_url_must_be_an_origin(make: Callable[..., Flask], bad: str) -> None:
    from locator.config import ConfigError

    with pytest.raises(ConfigError, match="LOCATOR_PUBLIC_URL"):
        make(LOCATOR_PUBLIC_URL=bad)
