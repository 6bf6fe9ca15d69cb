"""``LOCATOR_DATABASE_READ_URL``: an index that follows a store it polls (a standby gets no NOTIFY).

The whole path through a real hot standby is the cluster drill (tests/test_cluster.py);
here the polling follower and its wiring run against the test PostGIS server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from locator.config import ConfigError, load_config
from locator.stores.postgis import PostGISStore

from .conftest import make_pg_app
from .test_store_contract import fac, wait_until


@pytest.mark.postgis
def test_a_polling_follower_sees_every_commit_within_its_interval(postgis_url: str) -> None:
    writer = PostGISStore(postgis_url, pool_min=1, pool_max=2, timeout_s=5)
    follower = PostGISStore(postgis_url, pool_min=1, pool_max=2, timeout_s=5, poll_s=0.05)
    try:
        assert wait_until(lambda: follower.listening, 5) is not None
        for k in range(5):
            writer.import_many([fac(f"poll-{k}")])
            target = writer.revision()
            took = wait_until(lambda t=target: follower.revision() == t, 2.0)
            assert took is not None and took < 1.0, f"commit {k} not seen by the polling follower"
        assert follower.changes_since(0).revision == writer.revision()
        assert {f.id for f in follower.changes_since(0).changed} == {f"poll-{k}" for k in range(5)}
    finally:
        follower.close()
        writer.close()


@pytest.mark.postgis
def test_the_app_index_follows_the_read_url_and_writes_go_to_the_database_url(postgis_url: str) -> None:
    app = make_pg_app(postgis_url, LOCATOR_DATABASE_READ_URL=postgis_url, LOCATOR_INDEX_DIR=None)
    svc = app.extensions["locator"]
    try:
        follower = svc.keeper.store
        assert follower is not svc.store
        assert isinstance(follower, PostGISStore) and follower.poll_s is not None
        svc.store.import_many([fac("read-url-1")])
        assert wait_until(lambda: svc.index.get("read-url-1") is not None, 3.0) is not None
    finally:
        svc.close()
    assert follower._closed  # closed with the service


def test_a_read_url_needs_postgis(tmp_path: Path) -> None:
    env = {"LOCATOR_DATABASE_READ_URL": "postgresql://x@127.0.0.1/x", "LOCATOR_SECRET_KEY": "k" * 20}
    with pytest.raises(ConfigError, match="LOCATOR_DATABASE_READ_URL"):
        load_config(tmp_path, env)
    env["LOCATOR_DATABASE_URL"] = "postgresql://x@127.0.0.1/x"
    env["LOCATOR_DATABASE_READ_URL"] = "sqlite:///x"
    with pytest.raises(ConfigError, match="LOCATOR_DATABASE_READ_URL"):
        load_config(tmp_path, env)
