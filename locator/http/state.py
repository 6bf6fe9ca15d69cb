"""The app's state: the services built once per app, and accessors for the views.

:func:`init_state` builds every service over the one store and keeps it in
``app.extensions`` (Flask's place for per-app state, so two apps in one process never
share anything). Views and hooks reach the services through the accessors below and
never import each other for them.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from flask import Flask, current_app, url_for
from limits.storage import Storage, storage_from_string

from locator.core.areas import ServiceArea, districts_geojson, load_districts, load_subdistricts
from locator.core.geo import Datum
from locator.core.places import PlaceIndex, area_places, load_subway
from locator.errors import Msg, StoreUnavailableError
from locator.formats import maps
from locator.services.accounts import AccountService
from locator.services.citymap import CityMapService
from locator.services.facilities import LocatorService
from locator.services.feedback import FeedbackService
from locator.services.index_keeper import DEFAULT_POLL_S
from locator.services.live import LiveService
from locator.services.management import ManagementService
from locator.services.partners import PartnerService
from locator.services.planning import PlanningService
from locator.services.throttle import LoginThrottle, StoreCounterStorage
from locator.stores import open_store

#: ``app.extensions`` keys.
LOCATOR = "locator"
FEEDBACK = "locator.feedback"
MANAGE = "locator.manage"
ACCOUNTS = "locator.accounts"
PARTNERS = "locator.partners"
PLACES = "locator.places"
THROTTLE = "locator.login_throttle"
PLANNING = "locator.planning"
LIVE = "locator.live"
CITY_MAP = "locator.citymap"


def init_state(app: Flask) -> None:
    """Open the store, create its schema, build the index and every service.

    Raises
    ------
    StoreUnavailableError
        If the database cannot be reached.
    """
    url = app.config["LOCATOR_DATABASE_URL"]
    options: dict[str, Any] = {}
    if not url.startswith("sqlite"):
        options = {
            "pool_min": app.config["LOCATOR_DB_POOL_MIN"],
            "pool_max": app.config["LOCATOR_DB_POOL_MAX"],
            "timeout_s": app.config["LOCATOR_DB_TIMEOUT_S"],
        }
    store = open_store(url, **options)
    store.init_schema()
    follower = None
    if app.config.get("LOCATOR_DATABASE_READ_URL"):
        # The index follows a standby: a small pool, and the revision polled (no NOTIFY there).
        poll_s = app.config["LOCATOR_INDEX_CHECK_S"] or DEFAULT_POLL_S
        follower = open_store(
            app.config["LOCATOR_DATABASE_READ_URL"],
            pool_min=1,
            pool_max=2,
            timeout_s=app.config["LOCATOR_DB_TIMEOUT_S"],
            poll_s=poll_s,
        )
    area = app.config["LOCATOR_SERVICE_AREA"]
    service_area = ServiceArea.from_file(Path(area)) if area else ServiceArea(None)
    svc = LocatorService(
        store,
        load_districts(),
        load_subdistricts(),
        service_area,
        check_interval_s=app.config["LOCATOR_INDEX_CHECK_S"],
        snapshot_dir=app.config["LOCATOR_INDEX_DIR"],
        follower=follower,
    )
    svc.start()
    app.extensions[LOCATOR] = svc
    app.extensions[FEEDBACK] = FeedbackService(svc)
    live_svc = LiveService(svc, app.config["SECRET_KEY"], poll_s=app.config["LOCATOR_INDEX_CHECK_S"] or 0.05)
    live_svc.load()
    app.extensions[LIVE] = live_svc
    app.extensions[MANAGE] = ManagementService(svc, stale_days=int(app.config.get("LOCATOR_STALE_DAYS", 90)))
    app.extensions[PARTNERS] = PartnerService(store)
    # ARGON2_PARAMETERS (PasswordHasher keyword arguments) exists for tests only.
    hasher = PasswordHasher(**app.config.get("ARGON2_PARAMETERS", {}))
    app.extensions[ACCOUNTS] = AccountService(store, hasher)
    uri = app.config["LOCATOR_RATELIMIT_STORAGE_URI"]
    counters = StoreCounterStorage(store) if uri.startswith("memory://") else storage_from_string(uri)
    assert isinstance(counters, Storage)  # config.py accepts synchronous storages only
    app.extensions[THROTTLE] = LoginThrottle(counters, app.config["LOCATOR_LOGIN_RATE"])
    app.extensions[PLANNING] = PlanningService(svc)  # reads its demand layers on first use
    datum = _tiles_of(app.config).datum

    def warm_outlines() -> None:
        for level in range(len(maps.OUTLINE_LEVELS)):
            maps.district_lines(district_outlines(), datum, level)

    # Cluster pyramids per index base and the district outlines, built in the index thread.
    app.extensions[CITY_MAP] = CityMapService(svc, warm_also=warm_outlines)


def service() -> LocatorService:
    """The app's :class:`~locator.services.facilities.LocatorService` (store + index)."""
    svc: LocatorService = current_app.extensions[LOCATOR]
    return svc


def feedback_service() -> FeedbackService:
    """The app's :class:`~locator.services.feedback.FeedbackService`."""
    fs: FeedbackService = current_app.extensions[FEEDBACK]
    return fs


def live() -> LiveService:
    """The app's :class:`~locator.services.live.LiveService` (door status, check-ins, door keys)."""
    svc: LiveService = current_app.extensions[LIVE]
    return svc


def management() -> ManagementService:
    """The app's :class:`~locator.services.management.ManagementService`."""
    svc: ManagementService = current_app.extensions[MANAGE]
    return svc


def accounts() -> AccountService:
    """The app's :class:`~locator.services.accounts.AccountService`.

    Raises
    ------
    StoreUnavailableError
        When the configured store does not implement accounts.
    """
    svc: AccountService | None = current_app.extensions.get(ACCOUNTS)
    if svc is None:
        raise StoreUnavailableError(Msg("this store does not support management accounts yet"))
    return svc


def login_throttle() -> LoginThrottle:
    """The app's :class:`~locator.services.throttle.LoginThrottle`."""
    throttle: LoginThrottle = current_app.extensions[THROTTLE]
    return throttle


def partners() -> PartnerService:
    """The app's :class:`~locator.services.partners.PartnerService`."""
    svc: PartnerService = current_app.extensions[PARTNERS]
    return svc


def city_map_service() -> CityMapService:
    """The app's :class:`~locator.services.citymap.CityMapService` (the city map's data)."""
    cm: CityMapService = current_app.extensions[CITY_MAP]
    return cm


def planning() -> PlanningService:
    """The app's :class:`~locator.services.planning.PlanningService` (the coverage planner)."""
    ps: PlanningService = current_app.extensions[PLANNING]
    return ps


_places_lock = threading.Lock()


def place_index() -> PlaceIndex:
    """The app's place search, built on first use and kept in step with the facilities."""
    idx: PlaceIndex | None = current_app.extensions.get(PLACES)
    if idx is None:
        with _places_lock:
            idx = current_app.extensions.get(PLACES)
            if idx is None:
                svc = service()
                idx = PlaceIndex([*area_places(svc.districts, svc.subdistricts), *load_subway()])
                current_app.extensions[PLACES] = idx
    fidx = service().index
    if idx.revision != fidx.revision:
        idx.set_facilities(fidx.facilities(), fidx.revision)
    return idx


def district_outlines() -> dict[str, Any]:
    """The shipped district boundaries as GeoJSON (read once per process)."""
    return districts_geojson()


def tile_provider() -> maps.TileProvider:
    """The configured tile provider (see :mod:`locator.config`)."""
    return _tiles_of(current_app.config)


def _tiles_of(config: Any) -> maps.TileProvider:
    name = config["LOCATOR_TILES"]
    if name == "custom":
        return maps.TileProvider(
            name="custom",
            url=config["LOCATOR_TILE_URL"],
            attribution=config["LOCATOR_TILE_ATTRIBUTION"],
            datum=Datum.parse(config["LOCATOR_TILE_DATUM"]),
        )
    return maps.TILE_PROVIDERS[name]


def stale_after() -> timedelta:
    """How long a verification stays fresh (``LOCATOR_STALE_DAYS``)."""
    return timedelta(days=int(current_app.config.get("LOCATOR_STALE_DAYS", 90)))


def asset_url(path: str) -> str:
    """URL of a file under ``static/``."""
    return url_for("static", filename=path)
