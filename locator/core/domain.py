"""The locator's domain: facilities, their kinds, amenities and statuses.

Everything here is plain data (frozen dataclasses and registries) with no I/O. A
:class:`Facility` is always in WGS-84; conversion from other datums happens at the
edges (see :mod:`locator.core.geo`).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from locator.core.geo import valid_lonlat
from locator.core.hours import parse_opening_hours
from locator.errors import Msg, ValidationError


@dataclass(frozen=True, slots=True)
class Label:
    """A label in the two languages the service speaks."""

    zh: str
    en: str

    def get(self, locale: str) -> str:
        """Return the label for ``locale`` (``zh*`` gives Chinese, anything else English)."""
        return self.zh if locale.lower().startswith("zh") else self.en


#: Facility kinds. Keys are the API's values; order is display order.
KINDS: Final[dict[str, Label]] = {
    "warm_station": Label("户外劳动者暖心驿站", "Outdoor workers' warm station"),
    "union_home": Label("职工之家", "Union home"),
    "nursing_room": Label("母婴关爱室", "Nursing room"),
}

#: The 八可 ("eight cans") every warm station promises.
BA_KE: Final = (
    "cooling",
    "heating",
    "rain_shelter",
    "toilet",
    "drinking_water",
    "rest",
    "first_aid",
    "meal_discount",
)

#: Controlled amenity vocabulary. Keys are the API's values; order is display order.
AMENITIES: Final[dict[str, Label]] = {
    "cooling": Label("可纳凉", "Cooling"),
    "heating": Label("可取暖", "Heating"),
    "rain_shelter": Label("可避雨", "Rain shelter"),
    "toilet": Label("可如厕", "Toilet"),
    "drinking_water": Label("可饮水", "Drinking water"),
    "rest": Label("可休息", "Rest"),
    "first_aid": Label("可应急药品", "First-aid kit"),
    "meal_discount": Label("可就餐优惠", "Meal discount"),
    "food_heating": Label("可加热饭菜", "Food heating"),
    "phone_charging": Label("可充电", "Phone charging"),
    "wifi": Label("无线网络", "Wi-Fi"),
    "umbrella": Label("爱心雨伞", "Umbrella loan"),
    "blood_pressure_monitor": Label("血压计", "Blood-pressure monitor"),
    "breastfeeding_room": Label("哺乳间", "Breastfeeding room"),
    "diaper_changing": Label("尿布台", "Diaper changing"),
    "fridge": Label("冰箱", "Fridge"),
    "lockable_door": Label("可上锁的门", "Lockable door"),
}

#: Host types: where a facility is hosted.
HOST_TYPES: Final[dict[str, Label]] = {
    "bank": Label("银行网点", "Bank branch"),
    "supermarket": Label("超市", "Supermarket"),
    "convenience_store": Label("便利店", "Convenience store"),
    "shopping_mall": Label("商场", "Shopping mall"),
    "community_centre": Label("社区服务中心", "Community centre"),
    "government_office": Label("政府机关", "Government office"),
    "public_building": Label("公共建筑", "Public building"),
    "village_committee": Label("村（居）委会", "Village committee"),
    "union_office": Label("工会", "Trade union office"),
    "gas_station": Label("加油站", "Gas station"),
    "subway_station": Label("地铁站", "Subway station"),
    "office_building": Label("写字楼", "Office building"),
    "hospital": Label("医院", "Hospital"),
    "school": Label("学校", "School"),
    "park": Label("公园", "Park"),
    "public_square": Label("广场", "Public square"),
    "sanitation_depot": Label("环卫站", "Sanitation depot"),
    "other": Label("其他", "Other"),
}

#: Facility statuses. Only ``open`` facilities are returned by default.
STATUSES: Final[dict[str, Label]] = {
    "open": Label("正常开放", "Open"),
    "temporarily_closed": Label("暂停开放", "Temporarily closed"),
    "removed": Label("已撤销", "Removed"),
}

#: How a rider gets in (issue 13: the press's top complaint is stations that need an app
#: download or a QR scan at the door). ``""`` means unknown.
ACCESS: Final[dict[str, Label]] = {
    "walk_in": Label("直接进入", "Walk in"),
    "scan_to_enter": Label("扫码进入", "Scan a code to enter"),
    "ask_staff": Label("请工作人员开门", "Ask staff to open"),
    "registration_required": Label("需登记或注册", "Registration required"),
}

#: The controlled vocabularies of facility fields, by field name: ``{field: {key: Label}}``
#: (bulk help, history in words and the manager pages read their labels from here).
VOCABULARIES: Final[dict[str, dict[str, Label]]] = {
    "kind": KINDS,
    "amenities": AMENITIES,
    "host_type": HOST_TYPES,
    "status": STATUSES,
    "access": ACCESS,
}

#: Other spellings of host types met in real data, mapped to our keys ("" = unknown).
HOST_TYPE_ALIASES: Final = {
    "government": "government_office",
    "unknown": "",
    "community_center": "community_centre",
}

#: What a facility id looks like (1-128 characters; the API documents it from here).
ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
_ID_RE: Final = re.compile(ID_PATTERN)
_PHONE_RE: Final = re.compile(r"^[0-9+()\- ]{3,32}$")
_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_ADCODE_RE: Final = re.compile(r"^[0-9]{6}$")

NAME_MAX: Final = 200
ADDRESS_MAX: Final = 300
TEXT_MAX: Final = 500


@dataclass(frozen=True, slots=True)
class Facility:
    """One facility: a warm station, union home or nursing room.

    Attributes
    ----------
    id : str
        Stable identifier, 1–128 of ``[A-Za-z0-9._:-]``, starting alphanumeric.
    kind : str
        A key of :data:`KINDS`.
    name, address : str
        Display text (escaped wherever it is rendered).
    lon, lat : float
        Location, WGS-84 degrees.
    amenities : frozenset of str
        Keys of :data:`AMENITIES`.
    opening_hours : str
        OpenStreetMap ``opening_hours`` syntax; ``""`` means unknown.
    host_type : str
        A key of :data:`HOST_TYPES` or ``""``.
    phone : str
    access : str
        How a rider gets in: a key of :data:`ACCESS`, or ``""`` (unknown).
    status : str
        A key of :data:`STATUSES`.
    status_until : date or None
        For ``temporarily_closed``: the day it is expected to reopen.
    status_reason : str
        Why the status was set (e.g. the reason for removal).
    district_adcode, district_name, subdistrict : str or None
        Assigned by point-in-polygon (:mod:`locator.core.areas`), never typed in.
    verified_at, updated_at : datetime or None
        Timezone-aware instants.
    version : int
        Optimistic-concurrency version, 1 after creation, +1 per stored change.
    source : str
        Where the record came from (import file, demo layer, manager edit).
    demo : bool
        True for the synthetic demo layer: never a real station.
    """

    id: str
    kind: str
    name: str
    lon: float
    lat: float
    address: str = ""
    amenities: frozenset[str] = field(default_factory=frozenset)
    opening_hours: str = ""
    host_type: str = ""
    phone: str = ""
    access: str = ""
    status: str = "open"
    status_until: date | None = None
    status_reason: str = ""
    district_adcode: str | None = None
    district_name: str | None = None
    subdistrict: str | None = None
    verified_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    source: str = ""
    demo: bool = False

    def replace(self, **changes: Any) -> Facility:
        """Return a copy with ``changes`` applied (not validated)."""
        return dataclasses.replace(self, **changes)


#: Fields assigned by the service (areas by point-in-polygon) or the store.
ASSIGNED_FIELDS: Final = frozenset(
    {"id", "district_adcode", "district_name", "subdistrict", "updated_at", "version"}
)
#: Fields a client may set, in the dataclass's order.
EDITABLE_FIELDS: Final = tuple(f.name for f in dataclasses.fields(Facility) if f.name not in ASSIGNED_FIELDS)


def _text(value: Any, name: str, max_len: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationError(Msg("%(name)s must be a string", name=name), param=name)
    value = value.strip()
    if required and not value:
        raise ValidationError(Msg("%(name)s must not be empty", name=name), param=name)
    if len(value) > max_len:
        raise ValidationError(
            Msg("%(name)s is longer than %(max)s characters", name=name, max=max_len), param=name
        )
    if _CONTROL_RE.search(value):
        raise ValidationError(Msg("%(name)s contains control characters", name=name), param=name)
    return value


def parse_amenities(value: Any) -> frozenset[str]:
    """Parse amenities from a list or a comma/semicolon-separated string.

    Raises
    ------
    ValidationError
        On an amenity outside :data:`AMENITIES` (``param="amenities"``).
    """
    if value is None or value == "":
        return frozenset()
    if isinstance(value, str):
        items = [v.strip() for v in re.split(r"[,;|]", value)]
    elif isinstance(value, list | tuple | set | frozenset):
        items = [str(v).strip() for v in value]
    else:
        raise ValidationError(Msg("amenities must be a list of names"), param="amenities")
    items = [v for v in items if v]
    unknown = sorted(set(items) - AMENITIES.keys())
    if unknown:
        raise ValidationError(Msg("unknown amenity: %(names)s", names=", ".join(unknown)), param="amenities")
    return frozenset(items)


def validate_facility(f: Facility) -> Facility:
    """Check every field of ``f`` and return it normalised (text stripped).

    Parameters
    ----------
    f : Facility
        Location in WGS-84 degrees.

    Returns
    -------
    Facility

    Raises
    ------
    ValidationError
        Naming the first invalid field in ``param``.
    """
    if not isinstance(f.id, str) or not _ID_RE.match(f.id):
        raise ValidationError(
            Msg("id must be 1-128 characters of letters, digits, '.', '_', ':' or '-'"), param="id"
        )
    if not isinstance(f.kind, str) or f.kind not in KINDS:
        raise ValidationError(Msg("unknown kind %(kind)r", kind=f.kind), param="kind")
    try:
        lon, lat = float(f.lon), float(f.lat)
    except (TypeError, ValueError):
        raise ValidationError(Msg("coordinates must be numbers"), param="location") from None
    if not valid_lonlat(lon, lat):
        raise ValidationError(Msg("coordinates are missing or out of range"), param="location")
    name = _text(f.name, "name", NAME_MAX, required=True)
    address = _text(f.address, "address", ADDRESS_MAX)
    amenities = parse_amenities(f.amenities)
    hours = _text(f.opening_hours, "opening_hours", TEXT_MAX)
    if hours:
        parse_opening_hours(hours)
    host_type = _text(f.host_type, "host_type", 64)
    host_type = HOST_TYPE_ALIASES.get(host_type, host_type)
    if host_type and host_type not in HOST_TYPES:
        raise ValidationError(Msg("unknown host_type %(value)r", value=host_type), param="host_type")
    phone = _text(f.phone, "phone", 32)
    if phone and not _PHONE_RE.match(phone):
        raise ValidationError(Msg("phone may hold only digits, spaces, +, -, ( and )"), param="phone")
    access = _text(f.access, "access", 64)
    if access and access not in ACCESS:
        raise ValidationError(Msg("unknown access %(value)r", value=access), param="access")
    if not isinstance(f.status, str) or f.status not in STATUSES:
        raise ValidationError(Msg("unknown status %(value)r", value=f.status), param="status")
    if f.status_until is not None and (
        not isinstance(f.status_until, date) or isinstance(f.status_until, datetime)
    ):
        raise ValidationError(Msg("status_until must be a date"), param="status_until")
    status_reason = _text(f.status_reason, "status_reason", TEXT_MAX)
    for name_, instant in (("verified_at", f.verified_at), ("updated_at", f.updated_at)):
        if instant is not None and (not isinstance(instant, datetime) or instant.tzinfo is None):
            raise ValidationError(Msg("%(name)s must be a timezone-aware instant", name=name_), param=name_)
    if f.district_adcode is not None and not _ADCODE_RE.match(f.district_adcode):
        raise ValidationError(Msg("district adcode must be 6 digits"), param="district_adcode")
    if not isinstance(f.version, int) or f.version < 0:
        raise ValidationError(Msg("version must be a non-negative integer"), param="version")
    source = _text(f.source, "source", TEXT_MAX)
    if not isinstance(f.demo, bool):
        raise ValidationError(Msg("demo must be true or false"), param="demo")
    return f.replace(
        lon=lon,
        lat=lat,
        name=name,
        address=address,
        amenities=amenities,
        opening_hours=hours,
        host_type=host_type,
        phone=phone,
        access=access,
        status_reason=status_reason,
        source=source,
    )


@dataclass(frozen=True, slots=True)
class NearestHit:
    """One answer of a nearest query.

    Attributes
    ----------
    facility : Facility
    distance_m : float
        Ellipsoidal geodesic distance on WGS-84 from the query point, metres.
    bearing_deg : float
        Initial azimuth from the query point, degrees clockwise from north, [0, 360).
    rank : int
        1-based position in the answer.
    """

    facility: Facility
    distance_m: float
    bearing_deg: float
    rank: int


@dataclass(frozen=True, slots=True)
class NearestQuery:
    """A nearest query in WGS-84.

    Attributes
    ----------
    lon, lat : float
        Query point, WGS-84 degrees.
    k : int
        Number of hits wanted (>= 1).
    kinds : frozenset of str or None
        Kinds to search; None means every kind.
    amenities : frozenset of str
        All of these are required.
    statuses : frozenset of str
        Statuses accepted; default ``{"open"}``.
    open_at : datetime or None
        If given, only facilities whose ``opening_hours`` say open at this instant.
    radius_m : float or None
        Maximum geodesic distance in metres (inclusive).
    """

    lon: float
    lat: float
    k: int = 10
    kinds: frozenset[str] | None = None
    amenities: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset({"open"})
    open_at: datetime | None = None
    radius_m: float | None = None


#: What a rider can say about a facility: it is still correct, or there is a problem.
FEEDBACK_VERDICTS: Final[dict[str, Label]] = {
    "confirm": Label("信息仍然正确", "Still correct"),
    "problem": Label("报告问题", "Report a problem"),
}

#: Why a rider reports a problem.
FEEDBACK_REASONS: Final[dict[str, Label]] = {
    "closed": Label("关门或上锁", "Closed or locked"),
    "gone": Label("已不存在", "Not there any more"),
    "moved": Label("已搬迁", "Moved"),
    "missing_service": Label("缺少某项服务", "A service is missing"),
    "other": Label("其他", "Other"),
}


@dataclass(frozen=True, slots=True)
class Feedback:
    """One anonymous rider report about a facility.

    Attributes
    ----------
    facility_id : str
    verdict : str
        A key of :data:`FEEDBACK_VERDICTS`.
    at : datetime
        When it was received (timezone-aware).
    reason : str
        For ``problem``: a key of :data:`FEEDBACK_REASONS`; ``""`` for ``confirm``.
    comment : str
        Optional free text (at most :data:`TEXT_MAX` characters, no control characters).
    client : str
        A daily-rotating pseudonym of the sender (see :func:`locator.services.feedback.client_pseudonym`);
        never an IP address.
    facility_version : int
        The facility's version when the report was made.
    locale : str
        The page language (``zh``/``en``), for whoever reads the comment.
    id : int or None
        Assigned by the store.
    """

    facility_id: str
    verdict: str
    at: datetime
    reason: str = ""
    comment: str = ""
    client: str = ""
    facility_version: int = 0
    locale: str = ""
    id: int | None = None
