"""Place search without an online geocoder: "where am I?" from what riders type.

Searches, all offline and in memory:

* Beijing's 16 districts (Chinese name and the pinyin ``name_en``, e.g. 海淀区 / Haidian),
* its township-level subdistricts (街道/地区/镇/乡),
* subway stations and their entrances (``geodata/beijing_subway_osm.geojson``,
  © OpenStreetMap contributors, ODbL 1.0; English/pinyin names from OSM ``name:en``),
* facility names and addresses.

Each hit is a WGS-84 point to search from: an area's representative point (always
inside it, see :meth:`shapely.Geometry.representative_point`), a station or entrance
node, or the facility itself.

Matching is tolerant of partial input. Text is compared after
:func:`normalize`: Unicode NFKC (full-width ``ＡＢＣ１２３`` → ``abc123``), case
folding, and removal of spaces and punctuation (``·``, ``-``, brackets). Names are
also indexed without their generic suffix (区, 街道, 地区, 镇, 乡, 站, 地铁站, English
"district", "station"), and entrances both as ``五道口a口`` and ``五道口a``; the query
gets the same suffix stripping. The whole name equal to the query scores 1.0, another
key (without suffix, English) equal to it 0.98, a key starting
with it 0.8-1.0, a key containing it 0.5-0.7 (longer overlap scores higher), an
address containing it 0.3-0.4. Ties prefer districts, then subdistricts, stations,
entrances, facilities, then shorter names.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from locator.core.areas import GEODATA, AreaIndex
from locator.core.domain import Facility
from locator.errors import Msg, ValidationError

SUBWAY_FILE: Final = GEODATA / "beijing_subway_osm.geojson"

#: Kinds of place, in tie-break order.
PLACE_KINDS: Final = ("district", "subdistrict", "subway_station", "subway_entrance", "facility")

#: Longest query accepted, characters.
QUERY_MAX: Final = 100

_ZH_SUFFIXES: Final = ("地铁站", "街道办事处", "街道", "地区", "站", "区", "镇", "乡")
_EN_SUFFIXES: Final = (" subway station", " station", " district", " subdistrict", " subway")
_DROP: Final = re.compile(r"[\s\W_]+", re.UNICODE)
_ENTRANCE: Final = re.compile(r"([a-z][0-9]*)口$")
_KIND_RANK: Final = {k: i for i, k in enumerate(PLACE_KINDS)}


def normalize(text: str) -> str:
    """Fold ``text`` for matching: NFKC, casefold, no spaces or punctuation.

    Examples
    --------
    >>> normalize("  Ｗｕｄａｏｋｏｕ Ａ口 ")
    'wudaokoua口'
    >>> normalize("示例·五道口-东区")
    '示例五道口东区'
    """
    return _DROP.sub("", unicodedata.normalize("NFKC", text).casefold())


def _strip_suffix(folded: str) -> str:
    for suffix in _ZH_SUFFIXES:
        if folded.endswith(suffix) and len(folded) > len(suffix):
            return folded[: -len(suffix)]
    return folded


def _english_keys(name_en: str) -> list[str]:
    text = unicodedata.normalize("NFKC", name_en).casefold().strip()
    keys = [normalize(text)]
    for suffix in _EN_SUFFIXES:
        if text.endswith(suffix) and len(text) > len(suffix):
            keys.append(normalize(text[: -len(suffix)]))
    return keys


def query_keys(q: str) -> list[str]:
    """The folded forms of a query to look up (itself and without a generic suffix).

    Examples
    --------
    >>> query_keys("五道口站")
    ['五道口站', '五道口']
    >>> query_keys("Haidian District")
    ['haidiandistrict', 'haidian']
    """
    folded = normalize(q)
    keys = [folded]
    for k in (_strip_suffix(folded), *_english_keys(q)[1:]):
        if k and k not in keys:
            keys.append(k)
    return keys


@dataclass(frozen=True, slots=True)
class Place:
    """A point to search from.

    Attributes
    ----------
    kind : str
        One of :data:`PLACE_KINDS`.
    id : str
        Adcode, subdistrict id, ``osm-node-…`` or facility id.
    name : str
        Chinese (or the facility's) name.
    name_en : str
        English/pinyin name where the data has one, else ``""``.
    lon, lat : float
        WGS-84 degrees.
    context : str
        Where it is (district name, or the facility's address), for display.
    """

    kind: str
    id: str
    name: str
    name_en: str
    lon: float
    lat: float
    context: str = ""


@dataclass(frozen=True, slots=True)
class PlaceMatch:
    """A search hit: the place and its score in (0, 1.1]."""

    place: Place
    score: float


def place_keys(p: Place) -> list[str]:
    """The folded names under which ``p`` is found (see the module docstring)."""
    folded = normalize(p.name)
    keys = [folded, _strip_suffix(folded)]
    m = _ENTRANCE.search(folded)
    if m:
        keys.append(folded[: m.start()] + m.group(1))
    if p.name_en:
        keys.extend(_english_keys(p.name_en))
    return list(dict.fromkeys(k for k in keys if k))


def _score(query: Sequence[str], keys: Sequence[str], context: str) -> float:
    best = 0.0
    for q in query:
        for i, k in enumerate(keys):
            if k == q:
                if i == 0:
                    return 1.0  # the whole name
                best = max(best, 0.98)  # a name without its suffix, or the English name
                continue
            if k.startswith(q):
                best = max(best, 0.8 + 0.2 * len(q) / len(k))
            elif q in k:
                best = max(best, 0.5 + 0.2 * len(q) / len(k))
        if best < 0.3 and context and q in context:
            best = max(best, 0.3 + 0.1 * len(q) / len(context))
    return best


def load_subway(path: Path = SUBWAY_FILE) -> list[Place]:
    """Subway stations and entrances (one per name) from the OSM GeoJSON (WGS-84)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    out: list[Place] = []
    seen: set[tuple[str, str]] = set()
    feats = sorted(data["features"], key=lambda f: str(f["properties"]["id"]))
    for feat in feats:
        p = feat["properties"]
        lon, lat = feat["geometry"]["coordinates"][:2]
        if (p["kind"], p["name"]) in seen:
            continue  # an interchange is mapped once per line: one hit per name is enough
        seen.add((p["kind"], p["name"]))
        out.append(
            Place(
                p["kind"],
                str(p["id"]),
                p["name"],
                p.get("name_en") or "",
                float(lon),
                float(lat),
                p.get("district") or "",
            )
        )
    return out


def area_places(districts: AreaIndex, subdistricts: AreaIndex) -> list[Place]:
    """Districts and subdistricts as places at their representative points."""
    names = {a.code: a.name for a in districts.areas}
    out = []
    for kind, index in (("district", districts), ("subdistrict", subdistricts)):
        for a in index.areas:
            pt = a.geometry.representative_point()
            ctx = "" if kind == "district" else names.get(a.parent_code or "", "")
            out.append(Place(kind, a.code, a.name, a.name_en, pt.x, pt.y, ctx))
    return out


def facility_places(facilities: Iterable[Facility]) -> list[Place]:
    """Facilities (not removed ones) as places; context is the address."""
    return [
        Place("facility", f.id, f.name, "", f.lon, f.lat, f.address)
        for f in facilities
        if f.status != "removed"
    ]


def _order(m: PlaceMatch) -> tuple[float, int, int, str, str]:
    return (-m.score, _KIND_RANK[m.place.kind], len(m.place.name), m.place.name, m.place.id)


class PlaceIndex:
    """In-memory place search over fixed places plus the current facilities.

    Parameters
    ----------
    places : sequence of Place
        Districts, subdistricts, subway stations and entrances (fixed).

    Notes
    -----
    A query scans every key (a few thousand places, ~2 ms); facilities are re-keyed
    only when the facility index's revision changes (:meth:`set_facilities`).
    """

    def __init__(self, places: Sequence[Place]) -> None:
        self._fixed = [(p, place_keys(p), "") for p in places]
        self._facilities: list[tuple[Place, list[str], str]] = []
        self._revision: int | None = None
        self._lock = threading.Lock()

    def set_facilities(self, facilities: Iterable[Facility], revision: int) -> None:
        """Replace the searchable facilities (no-op when ``revision`` is unchanged)."""
        if revision == self._revision:
            return
        keyed = [(p, place_keys(p), normalize(p.context)) for p in facility_places(facilities)]
        with self._lock:
            self._facilities, self._revision = keyed, revision

    @property
    def revision(self) -> int | None:
        """The facility revision currently searchable."""
        return self._revision

    def search(self, q: str, *, limit: int = 10, kinds: Iterable[str] | None = None) -> list[PlaceMatch]:
        """Places matching ``q``, best first.

        Parameters
        ----------
        q : str
            What the rider typed (1-100 characters after trimming).
        limit : int
            Maximum number of matches.
        kinds : iterable of str, optional
            Restrict to these :data:`PLACE_KINDS`.

        Returns
        -------
        list of PlaceMatch
            Ordered by score (desc), kind order, name length, name, id.

        Raises
        ------
        ValidationError
            If ``q`` is empty after folding or longer than :data:`QUERY_MAX`
            (``param="q"``).
        """
        if len(q.strip()) > QUERY_MAX:
            raise ValidationError(
                Msg("%(name)s is longer than %(max)s characters", name="q", max=QUERY_MAX), param="q"
            )
        keys = query_keys(q)
        if not keys[0]:
            raise ValidationError(Msg("q must contain a letter or digit"), param="q")
        wanted = None if kinds is None else set(kinds)
        with self._lock:
            pool = self._fixed + self._facilities
        hits = []
        for place, pkeys, ctx in pool:
            if wanted is not None and place.kind not in wanted:
                continue
            s = _score(keys, pkeys, ctx)
            if s > 0:
                hits.append(PlaceMatch(place, round(s, 4)))
        hits.sort(key=_order)
        return hits[:limit]
