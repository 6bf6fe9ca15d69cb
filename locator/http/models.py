"""Request models: the one definition of every query, header and body parameter.

Each request the HTTP layer reads is described by a pydantic v2 model here. The same
model **validates** the request (:meth:`QueryModel.parse`, :meth:`BodyModel.parse`) and
**documents** it: :mod:`locator.http.openapi` generates the OpenAPI 3.1 document from
these models (their JSON Schema), so the limits, enums, defaults and descriptions the
document shows are the ones the code enforces.

Conventions
-----------
* **Query strings.** Values are stripped; an empty value is the same as an absent one.
  Parameters a model does not name are ignored, unless the model forbids them (OGC).
* **One boolean vocabulary** for query strings and forms: ``true``/``false``,
  ``1``/``0``, ``yes``/``no``, ``on``/``off`` (any case). Anything else is a 400.
* **Lists** in query strings are comma-separated (OpenAPI ``style: form``,
  ``explode: false``); every item must be one of the allowed values.
* **JSON bodies** are validated strictly (no string for a number, no number for a
  string); a field the body may not carry is a 400 naming it.
* **Errors.** The first invalid parameter becomes a
  :class:`~locator.errors.ValidationError` (400 problem+json with ``param``) whose
  detail is a translatable :class:`~locator.errors.Msg`; the bounds in the message come
  from the field's own constraints.

Enumerations (:func:`choice`, :func:`choice_set`) are named: the document holds each
one once, in ``components/schemas`` (:data:`CHOICES`), and every use refers to it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self, TypeAlias

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError

from locator.core.clusters import CELL_PX, MAX_CELLS, MAX_CLUSTER_ZOOM
from locator.core.domain import (
    ACCESS,
    ADDRESS_MAX,
    AMENITIES,
    FEEDBACK_REASONS,
    FEEDBACK_VERDICTS,
    HOST_TYPES,
    ID_PATTERN,
    KINDS,
    NAME_MAX,
    STATUSES,
    TEXT_MAX,
)
from locator.core.geo import Datum
from locator.core.hours import TZ
from locator.core.live import CHECKIN_DOORS, EVENT_STATES
from locator.core.places import PLACE_KINDS, QUERY_MAX
from locator.errors import Msg, NotFoundError, ValidationError
from locator.services.management import REPORT_ACTIONS
from locator.stores.contract import REPORT_STATUSES, ROLES

#: The words a query string or form may use for a boolean (lower-cased before lookup).
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})

#: Named enumerations: component name -> allowed values (in display order).
CHOICES: dict[str, tuple[str, ...]] = {}

#: The only CRS the OGC API speaks (WGS-84 longitude, latitude).
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"

#: Largest id of a rider report (a signed 64-bit integer, as both stores keep it).
REPORT_ID_MAX = 2**63 - 1

LIMIT_MAX = 50
RADIUS_MAX_M = 100_000.0
PLACES_LIMIT_MAX = 50
FEED_LIMIT_DEFAULT = 100
FEED_LIMIT_MAX = 1000
OGC_LIMIT_DEFAULT = 10
OGC_LIMIT_MAX = 1000
OFFSET_MAX = 10**9
ZOOM_MIN, ZOOM_MAX = 3, 18  # the embed
MAP_ZOOM_MIN, MAP_ZOOM_MAX = 3, 19  # a shared view of the city map


def choice_ref(name: str) -> dict[str, Any]:
    """A reference to the named choice ``name``, for JSON Schema.

    A marker (``x-choice``) that :func:`locator.http.openapi.clean_schema` turns into a
    ``$ref`` to ``#/components/schemas/<name>`` (pydantic resolves plain ``$ref`` references
    against its own definitions, which do not hold the choices).
    """
    return {"x-choice": name}


# --- parameter types --------------------------------------------------------------------


def choice(name: str, values: Iterable[str], *, blank: bool = False) -> Any:
    """A string that must be one of ``values``; documented as the named enum ``name``.

    Parameters
    ----------
    name : str
        The component name in the document (e.g. ``Kind``).
    values : iterable of str
        The allowed values (a mapping's keys, in order).
    blank : bool
        Also accept ``""`` (meaning "none").
    """
    allowed = tuple(values)
    CHOICES[name] = allowed
    accepted = frozenset(allowed) | ({""} if blank else frozenset())

    def check(value: str) -> str:
        if value not in accepted:
            raise PydanticCustomError("choice", "must be one of {values}", {"values": ", ".join(allowed)})
        return value

    schema: dict[str, Any] = choice_ref(name)
    if blank:
        schema = {"anyOf": [schema, {"const": ""}]}
    return Annotated[str, AfterValidator(check), WithJsonSchema(schema)]


def _split(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v.strip() for v in value.split(",")]
    if isinstance(value, list | tuple | set | frozenset):
        if not all(isinstance(v, str) for v in value):
            raise PydanticCustomError("list_of_strings", "must be a list of names")
        return [v.strip() for v in value]
    raise PydanticCustomError("list_of_strings", "must be a list of names")


def choice_set(name: str, values: Iterable[str]) -> Any:
    """A set of values of the named enum ``name``: comma-separated, or a JSON list.

    Empty items are dropped; an empty set validates as None. An unknown item is an
    ``unknown <param>: <items>`` error listing every unknown item.
    """
    allowed = tuple(values)
    CHOICES[name] = allowed
    known = frozenset(allowed)

    def split(value: Any) -> frozenset[str] | None:
        if value is None:
            return None
        items = frozenset(v for v in _split(value) if v)
        unknown = items - known
        if unknown:
            raise PydanticCustomError(
                "unknown_values", "unknown {values}", {"values": ", ".join(sorted(unknown))}
            )
        return items or None

    schema = {"type": "array", "items": choice_ref(name), "uniqueItems": True}
    return Annotated[frozenset[str] | None, BeforeValidator(split), WithJsonSchema(schema)]


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise PydanticCustomError("boolean", "must be true or false")


#: A query or form boolean in the one vocabulary (:data:`TRUE_WORDS`, :data:`FALSE_WORDS`).
QueryBool = Annotated[bool, BeforeValidator(_boolean), WithJsonSchema({"type": "boolean"})]

#: UTC+08:00, for instants before the zone's first standard offset (see :func:`parse_instant`).
CHINA_STANDARD_TIME = timezone(timedelta(hours=8))

# An unencoded "+08:00" arrives as " 08:00" (form decoding turns + into space).
_PLUS_AS_SPACE = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$", re.IGNORECASE)
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_instant(raw: str) -> datetime:
    """An ISO 8601 / RFC 3339 instant in Asia/Shanghai; a naive time means Asia/Shanghai.

    Accepts ``Z`` and lower-case ``t``/``z``, fractions of a second beyond
    microseconds (truncated), and ``+08:00`` whose ``+`` a form decoder turned into a
    space.

    Raises
    ------
    ValueError
        If ``raw`` is not an instant, or is too close to the ends of the calendar to
        express in Asia/Shanghai.
    """
    text = _PLUS_AS_SPACE.sub(r"\1+\2", raw.strip())
    text = _LONG_FRACTION.sub(r"\1", text)
    if len(text) > 10 and text[10] in "tT ":
        text = text[:10] + "T" + text[11:]
    if text[-1:] in {"Z", "z"}:
        text = text[:-1] + "+00:00"
    value = datetime.fromisoformat(text)  # ValueError when malformed
    if value.tzinfo is None:
        value = value.replace(tzinfo=TZ)
    try:
        local = value.astimezone(TZ)
    except OverflowError:
        raise ValueError("instant out of range") from None
    offset = local.utcoffset()
    if offset is not None and offset.seconds % 60:
        # Before 1901 the zone's local mean time is +08:05:43, which RFC 3339 cannot
        # write (no seconds in offsets): use China's standard +08:00 instead.
        local = value.astimezone(CHINA_STANDARD_TIME)
    return local


def _instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError:
            pass
    raise PydanticCustomError("instant", "must be an ISO 8601 instant")


#: An ISO 8601 instant (naive: Asia/Shanghai), validated as an aware datetime in Asia/Shanghai.
Instant = Annotated[
    datetime, BeforeValidator(_instant), WithJsonSchema({"type": "string", "format": "date-time"})
]


def _datum(value: Any) -> Datum:
    if isinstance(value, Datum):
        return value
    if isinstance(value, str):
        try:
            return Datum.parse(value)
        except ValueError:
            pass
    raise PydanticCustomError("datum", "must be wgs84, gcj02 or bd09")


CHOICES["Datum"] = tuple(d.value for d in Datum)
#: A datum name (``wgs84``, ``gcj02``, ``bd09``; case, ``-`` and ``_`` ignored).
DatumParam = Annotated[Datum, BeforeValidator(_datum), WithJsonSchema(choice_ref("Datum"))]

if TYPE_CHECKING:  # what mypy sees; at run time each is an Annotated type that validates
    Kind: TypeAlias = str
    Amenity: TypeAlias = str
    Status: TypeAlias = str
    HostType: TypeAlias = str
    Verdict: TypeAlias = str
    FeedbackReason: TypeAlias = str
    ReportAction: TypeAlias = str
    Resolution: TypeAlias = str
    CollectionId: TypeAlias = str
    FormatParam: TypeAlias = str
    AccessOrBlank: TypeAlias = str
    CheckinDoor: TypeAlias = str
    DoorState: TypeAlias = str
    OverrideState: TypeAlias = str
    KindSet: TypeAlias = frozenset[str] | None
    AmenitySet: TypeAlias = frozenset[str] | None
    StatusSet: TypeAlias = frozenset[str] | None
    PlaceKindSet: TypeAlias = frozenset[str] | None
else:
    Kind = choice("Kind", KINDS)
    Amenity = choice("Amenity", AMENITIES)
    Status = choice("Status", STATUSES)
    HostType = choice("HostType", HOST_TYPES, blank=True)
    Verdict = choice("Verdict", FEEDBACK_VERDICTS)
    FeedbackReason = choice("FeedbackReason", FEEDBACK_REASONS, blank=True)
    ReportAction = choice("ReportAction", REPORT_ACTIONS)
    Resolution = choice("Resolution", ("resolved", "dismissed"))
    CollectionId = choice("CollectionId", ("facilities", *KINDS))
    FormatParam = choice("Format", ("json", "html"))
    AccessOrBlank = choice("Access", ACCESS, blank=True)
    CheckinDoor = choice("CheckinDoor", CHECKIN_DOORS)
    DoorState = choice("DoorState", EVENT_STATES["device"])
    OverrideState = choice("OverrideState", EVENT_STATES["manager"])
    KindSet = choice_set("Kind", KINDS)
    AmenitySet = choice_set("Amenity", AMENITIES)
    StatusSet = choice_set("Status", STATUSES)
    PlaceKindSet = choice_set("PlaceKind", PLACE_KINDS)
CHOICES["ReportStatus"] = tuple(REPORT_STATUSES)
CHOICES["Role"] = tuple(ROLES)


# --- errors -----------------------------------------------------------------------------

#: Message templates per pydantic error type (Msg: extracted for translation).
_TEMPLATES: dict[str, str] = {
    "missing": Msg("%(name)s is required"),
    "float_parsing": Msg("%(name)s must be a number"),
    "float_type": Msg("%(name)s must be a number"),
    "finite_number": Msg("%(name)s must be a finite number"),
    "int_parsing": Msg("%(name)s must be an integer"),
    "int_type": Msg("%(name)s must be an integer"),
    "int_from_float": Msg("%(name)s must be an integer"),
    "int_parsing_size": Msg("%(name)s must be an integer"),
    "boolean": Msg("%(name)s must be true or false"),
    "bool_parsing": Msg("%(name)s must be true or false"),
    "bool_type": Msg("%(name)s must be true or false"),
    "string_type": Msg("%(name)s must be a string"),
    "string_too_long": Msg("%(name)s is longer than %(max)s characters"),
    "string_pattern_mismatch": Msg("%(name)s has an invalid format"),
    "unknown_values": Msg("unknown %(name)s: %(values)s"),
    "choice": Msg("%(name)s must be one of %(values)s"),
    "datum": Msg("%(name)s must be wgs84, gcj02 or bd09"),
    "instant": Msg("%(name)s must be an ISO 8601 instant"),
    "list_of_strings": Msg("%(name)s must be a list of names"),
    "crs": Msg("%(name)s must be %(crs)s"),
    "bbox_numbers": Msg("%(name)s must be 4 finite numbers: west,south,east,north"),
    "bbox_range": Msg("%(name)s is out of range (longitude ±180, latitude ±90)"),
    "bbox_order": Msg("%(name)s must have west <= east and south <= north"),
}


def _bounds(model: type[BaseModel], name: str) -> tuple[Any, Any]:
    """The ``(lower, upper)`` bounds of a field, from its constraints (None when open)."""
    lo = hi = None
    for field_name, info in model.model_fields.items():
        if (info.alias or field_name) != name:
            continue
        for meta in info.metadata:  # annotated_types.Ge/Gt/Le/Lt
            for attr in ("ge", "gt"):
                lo = getattr(meta, attr, lo)
            for attr in ("le", "lt"):
                hi = getattr(meta, attr, hi)
    return lo, hi


def _number(value: Any) -> Any:
    return f"{value:g}" if isinstance(value, float) else value


def error_message(model: type[BaseModel], error: Mapping[str, Any]) -> tuple[Msg, str]:
    """The translatable message and the parameter for one pydantic error of ``model``.

    Parameters
    ----------
    model : type of BaseModel
        The model that failed (its field constraints give the bounds).
    error : mapping
        One item of :meth:`pydantic.ValidationError.errors`.

    Returns
    -------
    (Msg, str)
        The message and the parameter (the first element of the error's location;
        ``body`` for an error about the whole body).
    """
    kind = str(error["type"])
    loc = error.get("loc") or ()
    ctx = error.get("ctx") or {}
    if not loc or kind in {"model_type", "model_attributes_type", "dict_type", "json_invalid", "json_type"}:
        return Msg("the body must be a JSON object"), "body"
    name = str(loc[0])
    if kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        lo, hi = _bounds(model, name)
        if lo is not None and hi is not None:
            return Msg(
                "%(name)s must be between %(lo)s and %(hi)s", name=name, lo=_number(lo), hi=_number(hi)
            ), name
        if lo is not None:
            return Msg("%(name)s must be at least %(lo)s", name=name, lo=_number(lo)), name
        return Msg("%(name)s must be at most %(hi)s", name=name, hi=_number(hi)), name
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return Msg("%(name)s must not be empty", name=name), name
        return Msg("%(name)s is shorter than %(min)s characters", name=name, min=ctx.get("min_length")), name
    if kind == "extra_forbidden":
        return Msg(model.__extra_message__, name=name), name  # type: ignore[attr-defined]
    template = _TEMPLATES.get(kind)
    if template is None:
        return Msg("%(name)s is not valid", name=name), name
    values: dict[str, Any] = {"name": name}
    if kind == "string_too_long":
        values["max"] = ctx.get("max_length")
    elif kind in {"unknown_values", "choice"}:
        values["values"] = ctx.get("values", "")
    elif kind == "crs":
        values["crs"] = CRS84
    return Msg(template, **values), name


def raise_validation_error(model: type[BaseModel], exc: PydanticValidationError) -> None:
    """Raise the :class:`ValidationError` for the first error of ``exc``.

    Unknown parameters (``extra_forbidden``) are reported only when nothing else is
    wrong, all of them in one message.

    Raises
    ------
    ValidationError
        Always.
    """
    errors = exc.errors(include_url=False, include_input=False)
    first = next((e for e in errors if e["type"] not in {"extra_forbidden", "none_required"}), None)
    if first is None and not any(e["type"] == "extra_forbidden" for e in errors):
        first = errors[0]
    if first is None:
        extras = sorted(str(e["loc"][0]) for e in errors)
        msg = Msg(model.__extra_message__, name=", ".join(extras))  # type: ignore[attr-defined]
        raise ValidationError(msg, param=extras[0])
    msg, param = error_message(model, first)
    raise ValidationError(msg, param=param)


# --- base models ------------------------------------------------------------------------


class QueryModel(BaseModel):
    """Query-string parameters. Unknown parameters are ignored unless ``extra="forbid"``."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    __extra_message__: ClassVar[str] = Msg("unknown parameter %(name)s")

    @classmethod
    def parse(cls, args: Mapping[str, str]) -> Self:
        """Validate a query string (first value of each name; stripped; empty = absent).

        Raises
        ------
        ValidationError
            Naming the first bad parameter (400).
        """
        data = {}
        for key, value in args.items():
            value = value.strip()
            if value:
                data[key] = value
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise_validation_error(cls, exc)
            raise  # pragma: no cover (raise_validation_error always raises)


def _allow_null(prop: dict[str, Any]) -> None:
    """Make a property schema accept ``null`` too (in place)."""
    null = {"type": "null"}
    if "anyOf" in prop:
        if null not in prop["anyOf"]:
            prop["anyOf"].append(null)
        return
    kind = prop.get("type")
    if isinstance(kind, list):
        if "null" not in kind:
            kind.append("null")
        return
    if isinstance(kind, str) and "enum" not in prop and "const" not in prop:
        prop["type"] = [kind, "null"]
        return
    keep: dict[str, Any] = {k: prop.pop(k) for k in ("description", "default", "examples") if k in prop}
    branch = dict(prop)
    prop.clear()
    prop.update(keep, anyOf=[branch, null])


class BodyModel(BaseModel):
    """A JSON request body (an object): strict types, unknown fields refused."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)
    __extra_message__: ClassVar[str] = Msg("field cannot be set here: %(name)s")
    #: Optional fields that also accept ``null``; any other optional field may be absent,
    #: not ``null`` (a ``null`` is a 400, and the document does not offer it).
    __nullable__: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> Any:
        """The model's JSON Schema, without ``null`` for fields outside :attr:`__nullable__`."""
        schema = handler(core_schema)
        target = handler.resolve_ref_schema(schema)
        for name, prop in target.get("properties", {}).items():
            if name in cls.__nullable__:
                _allow_null(prop)
                continue
            branches = prop.get("anyOf")
            if not branches or {"type": "null"} not in branches:
                continue
            kept = [b for b in branches if b != {"type": "null"}]
            del prop["anyOf"]
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        return schema

    @classmethod
    def parse(cls, data: Any) -> Self:
        """Validate a decoded body (a JSON object, or a form as a mapping of strings).

        Raises
        ------
        ValidationError
            ``param="body"`` when it is not an object; else naming the first bad field.
        """
        if not isinstance(data, Mapping):
            raise ValidationError(Msg("the body must be a JSON object"), param="body")
        for name, value in data.items():
            if value is None and name in cls.model_fields and name not in cls.__nullable__:
                raise ValidationError(Msg("%(name)s must not be null", name=name), param=name)
        try:
            return cls.model_validate(dict(data))
        except PydanticValidationError as exc:
            raise_validation_error(cls, exc)
            raise  # pragma: no cover

    def given(self, *exclude: str) -> dict[str, Any]:
        """The fields the client sent (JSON values as sent), without ``exclude``."""
        return {
            k: v for k, v in self.model_dump(exclude_unset=True, by_alias=True).items() if k not in exclude
        }


class HeaderModel(BaseModel):
    """Request headers an operation reads (documented; read with ``request.headers``)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class PathModel(BaseModel):
    """Path parameters of an operation (documented; Flask's converters parse them)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


def form_int(raw: str | None) -> int:
    """A whole number from 0 to :data:`REPORT_ID_MAX` (a 64-bit signed column) from a form field.

    Raises
    ------
    ValueError
        If ``raw`` is not such a number (the caller names the field).
    """
    value = int((raw or "").strip())
    if not 0 <= value <= REPORT_ID_MAX:
        raise ValueError(f"{value} is out of range")
    return value


# --- path parameters --------------------------------------------------------------------

FacilityIdField = Annotated[
    str,
    Field(
        pattern=ID_PATTERN,
        description="The facility's id: 1-128 letters, digits, `.`, `_`, `:` or `-`, starting with "
        "a letter or digit. Any other id names no facility (404).",
    ),
]


_FACILITY_ID = re.compile(ID_PATTERN)


def known_facility_id(value: str, param: str = "id") -> str:
    """``value`` if it can name a facility (:data:`~locator.core.domain.ID_PATTERN`).

    Views check path ids with it before they reach a store, so that no id a store
    cannot even hold (a NUL byte, 10,000 characters) gets further than a 404.

    Raises
    ------
    NotFoundError
        Naming ``param``.
    """
    if not _FACILITY_ID.match(value):
        raise NotFoundError(Msg("no facility with id %(id)r", id=value), param=param)
    return value


class FacilityPath(PathModel):
    """``/…/facilities/{facility_id}``."""

    facility_id: FacilityIdField


class CollectionPath(PathModel):
    """``/ogc/collections/{collection_id}…``."""

    collection_id: CollectionId = Field(
        description="`facilities` (all kinds) or one kind; any other is a 404."
    )


class FeaturePath(CollectionPath):
    """``/ogc/collections/{collection_id}/items/{feature_id}``."""

    feature_id: FacilityIdField


class ReportPath(PathModel):
    """``/api/v1/manage/reports/{report_id}/…``."""

    report_id: Annotated[int, Field(ge=0, le=REPORT_ID_MAX, description="The report's id (404 if none).")]


# --- the public API ---------------------------------------------------------------------


class NearestParams(QueryModel):
    """``GET /api/v1/nearest`` (and the rider pages, the embed)."""

    datum: DatumParam = Field(
        Datum.WGS84, description="Datum of the input point and of the output coordinates."
    )
    lon: float = Field(
        ge=-180,
        le=180,
        allow_inf_nan=False,
        description="Longitude of the query point, degrees, in `datum` (default WGS-84). Send at most "
        "4 decimals (≈10 m) to share cached answers.",
    )
    lat: float = Field(
        ge=-90, le=90, allow_inf_nan=False, description="Latitude of the query point, degrees, in `datum`."
    )
    kind: KindSet = Field(None, description="Facility kinds (default: all).")
    amenity: AmenitySet = Field(None, description="Required amenities (all of them).")
    open_now: QueryBool = Field(False, description="Only facilities open at `at` (Asia/Shanghai).")
    at: Instant | None = Field(
        None, description="ISO 8601 instant for `open_now` (default: now; naive means Asia/Shanghai)."
    )
    radius_m: float | None = Field(
        None,
        ge=1,
        le=RADIUS_MAX_M,
        allow_inf_nan=False,
        description="Only facilities within this geodesic distance, metres.",
    )
    limit: int = Field(10, ge=1, le=LIMIT_MAX, description="How many facilities, nearest first.")


class MapViewParams(QueryModel):
    """``/map?lon=&lat=&zoom=[&datum=]``: a shared view of the city map."""

    datum: DatumParam = Field(Datum.WGS84, description="Datum of `lon`/`lat`.")
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False, description="Longitude of the view's centre.")
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False, description="Latitude of the view's centre.")
    zoom: float = Field(ge=MAP_ZOOM_MIN, le=MAP_ZOOM_MAX, allow_inf_nan=False, description="Zoom level.")


def _bbox(value: Any) -> tuple[float, float, float, float]:
    """``west,south,east,north`` (comma-separated, or a list) as four floats, checked."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or len(items) != 4:
        raise PydanticCustomError("bbox_numbers", "must be 4 finite numbers")
    try:
        w, s, e, n = (float(v) for v in items)
    except (TypeError, ValueError):
        raise PydanticCustomError("bbox_numbers", "must be 4 finite numbers") from None
    if not all(math.isfinite(v) for v in (w, s, e, n)):
        raise PydanticCustomError("bbox_numbers", "must be 4 finite numbers")
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise PydanticCustomError("bbox_range", "is out of range")
    if w > e or s > n:
        raise PydanticCustomError("bbox_order", "west must not exceed east, nor south north")
    return w, s, e, n


_LON_SCHEMA = {"type": "number", "minimum": -180, "maximum": 180}
_LAT_SCHEMA = {"type": "number", "minimum": -90, "maximum": 90}
#: A ``west,south,east,north`` bbox in degrees (query string: comma-separated).
BBox = Annotated[
    tuple[float, float, float, float],
    BeforeValidator(_bbox),
    WithJsonSchema(
        {
            "type": "array",
            "prefixItems": [_LON_SCHEMA, _LAT_SCHEMA, _LON_SCHEMA, _LAT_SCHEMA],
            "minItems": 4,
            "maxItems": 4,
        }
    ),
]


class MapClustersParams(QueryModel):
    """``GET /api/v1/map/clusters``: what the city map shows of a bbox at a zoom level."""

    bbox: BBox = Field(
        description="west,south,east,north in `datum` degrees; grown to whole cells of the grid "
        f"({CELL_PX} px cells of the Web-Mercator tiles at `zoom`), at most {MAX_CELLS} cells."
    )
    zoom: int = Field(
        ge=MAP_ZOOM_MIN,
        le=MAP_ZOOM_MAX,
        description=f"Map zoom level; above {MAX_CLUSTER_ZOOM} every facility is sent on its own.",
    )
    kind: KindSet = Field(None, description="Facility kinds (default: all).")
    datum: DatumParam = Field(
        Datum.WGS84, description="Datum of `bbox` and of the positions answered (the map tiles' datum)."
    )


class MapDistrictsParams(QueryModel):
    """``GET /api/v1/map/districts``: district boundaries drawn at a zoom level."""

    zoom: int = Field(ge=MAP_ZOOM_MIN, le=MAP_ZOOM_MAX, description="Map zoom level (chooses the detail).")
    datum: DatumParam = Field(Datum.WGS84, description="Datum of the coordinates answered.")


class FacilityParams(QueryModel):
    """``GET /api/v1/facilities/{facility_id}``."""

    datum: DatumParam = Field(Datum.WGS84, description="Datum of the output coordinates.")


class PlacesParams(QueryModel):
    """``GET /api/v1/places``."""

    q: str = Field(
        min_length=1,
        max_length=QUERY_MAX,
        description="What the rider typed: a district, subdistrict, subway station or entrance, or a "
        "facility's name or address. Tolerant of width, case, spaces, punctuation and generic "
        "suffixes (区, 街道, 站, …).",
    )
    kind: PlaceKindSet = Field(None, description="Place kinds (default: all).")
    limit: int = Field(10, ge=1, le=PLACES_LIMIT_MAX, description="How many places, best first.")
    datum: DatumParam = Field(Datum.WGS84, description="Datum of the output coordinates.")


class FeedbackBody(BodyModel):
    """A rider's answer: ``confirm`` (still correct) or ``problem`` with a reason.

    The same fields come as JSON or as a form; ``null`` counts as empty.
    """

    __nullable__: ClassVar[frozenset[str]] = frozenset({"reason", "comment"})
    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        frozen=True,
        json_schema_extra={
            "examples": [
                {"verdict": "confirm"},
                {"verdict": "problem", "reason": "closed", "comment": "门锁着"},
            ],
            "allOf": [
                {
                    "if": {"properties": {"verdict": {"const": "problem"}}, "required": ["verdict"]},
                    "then": {
                        "required": ["reason"],
                        "properties": {"reason": choice_ref("FeedbackReason")},
                    },
                },
                {
                    "if": {"properties": {"verdict": {"const": "confirm"}}, "required": ["verdict"]},
                    "then": {"properties": {"reason": {"const": ""}}},
                },
            ],
        },
    )

    verdict: Verdict = Field(description="`confirm`: still correct; `problem`: something is wrong.")
    reason: Annotated[FeedbackReason, BeforeValidator(lambda v: "" if v is None else v)] = Field(
        "", description="Required for `problem`; empty or absent for `confirm`."
    )
    comment: Annotated[str, BeforeValidator(lambda v: "" if v is None else v)] = Field(
        "",
        max_length=TEXT_MAX,
        description="Optional free text (trimmed; control characters other than newline and tab are "
        "dropped).",
    )


class CheckinBody(BodyModel):
    """A rider at the door: ``{"door": "open" | "locked" | "scan_required"}`` (JSON or form)."""

    model_config = ConfigDict(
        extra="ignore",
        strict=True,
        frozen=True,
        json_schema_extra={"examples": [{"door": "locked"}, {"door": "open"}, {"door": "scan_required"}]},
    )

    door: CheckinDoor = Field(
        description="`open`: I got in; `locked`: the door is locked; `scan_required`: one must scan a code "
        "or register to enter."
    )


class DoorEventBody(BodyModel):
    """A door device's state: ``{"state": "open" | "closed"}``."""

    model_config = ConfigDict(
        extra="forbid", strict=True, frozen=True, json_schema_extra={"examples": [{"state": "open"}]}
    )

    state: DoorState = Field(description="`open`: riders can get in; `closed`: the door is locked.")


class DoorHeaders(HeaderModel):
    """The signature of a door device's request (the key id is the `DoorKey` security scheme)."""

    x_door_timestamp: str = Field(
        alias="X-Door-Timestamp",
        pattern=r"^[0-9]{1,12}$",
        description="Unix seconds; more than 300 s from the server's clock is a 401.",
    )
    x_door_signature: str = Field(
        alias="X-Door-Signature",
        pattern=r"^[0-9a-fA-F]{64}$",
        description='Hex HMAC-SHA256 of `timestamp + "\n" + raw body` under the device secret.',
    )


class LiveOverrideBody(BodyModel):
    """A manager's one-tap override of the live door status."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"state": "closed", "until": "12:00", "reason": "暖气维修"},
                {"state": "open"},
                {"state": "cleared"},
            ]
        }
    )

    __nullable__: ClassVar[frozenset[str]] = frozenset({"until"})

    state: OverrideState = Field(
        description="`open`: open now; `closed`: closed now until `until`; `cleared`: back to the "
        "schedule and the other signals."
    )
    until: str | None = Field(
        None,
        pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$",
        description="HH:MM, Beijing time: the next such time (within 24 h). Required for `closed`; for "
        "`open` the default is 4 hours.",
    )
    reason: str = Field("", max_length=TEXT_MAX, description="Shown to riders with a closure.")


class FeedParams(QueryModel):
    """``GET /api/v1/facilities`` (the change feed)."""

    modified_since: Instant | None = Field(
        None, description="Only facilities changed after this ISO 8601 instant (naive: Asia/Shanghai)."
    )
    limit: int = Field(FEED_LIMIT_DEFAULT, ge=1, le=FEED_LIMIT_MAX, description="Page size.")
    cursor: str | None = Field(None, description="Opaque; copy it from the previous page's `next` link.")


class NoParams(QueryModel):
    """An operation that takes no query parameters: any is a 400."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    __extra_message__: ClassVar[str] = Msg("this resource takes no parameters, got %(name)s")


# --- OGC API – Features -----------------------------------------------------------------

CHOICES["Crs"] = (CRS84, f"<{CRS84}>")


def _crs(value: Any) -> str:
    if value not in CHOICES["Crs"]:
        raise PydanticCustomError("crs", "must be " + CRS84)
    return str(value)


CrsParam = Annotated[str, AfterValidator(_crs), WithJsonSchema(choice_ref("Crs"))]


def _format(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    value = value.lower()
    return "json" if value == "geojson" else value


class OgcParams(QueryModel):
    """Every OGC resource: the encoding and the language; nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    __extra_message__: ClassVar[str] = Msg("unknown parameter %(name)s")

    f: Annotated[FormatParam, BeforeValidator(_format)] | None = Field(
        None,
        description="Encoding: `json` (`geojson` is accepted too) or `html`; without it the Accept "
        "header decides (JSON by default).",
    )
    lang: str | None = Field(None, description="`zh` or `en` for titles and HTML pages.")


class OgcItemParams(OgcParams):
    """``/ogc/collections/{collectionId}/items/{featureId}``."""

    crs: CrsParam | None = Field(None, description="Only CRS84 (OGC API – Features Part 2).")


class OgcItemsParams(OgcItemParams):
    """``/ogc/collections/{collectionId}/items``: filters and paging."""

    bbox: Annotated[
        str | None,
        WithJsonSchema({"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}}),
    ] = Field(None, description="minLon,minLat,maxLon,maxLat in WGS-84 (CRS84) degrees; edges inclusive.")
    bbox_crs: CrsParam | None = Field(None, alias="bbox-crs", description="Only CRS84.")
    limit: int = Field(
        OGC_LIMIT_DEFAULT,
        ge=1,
        description=f"Page size; values above {OGC_LIMIT_MAX} are served as {OGC_LIMIT_MAX}.",
    )
    offset: int = Field(0, ge=0, le=OFFSET_MAX, description="Features to skip (id order).")
    datetime_: str | None = Field(
        None,
        alias="datetime",
        description="`start/..`: features changed (updated_at) at or after start. `..`: all.",
    )
    status: StatusSet = Field(None, description="Statuses (default open,temporarily_closed).")
    amenity: AmenitySet = Field(None, description="Required amenities (all of them).")
    district: str | None = Field(
        None, description="District adcodes (110108) or names (海淀区), comma-separated."
    )
    kind: KindSet = Field(None, description="Facility kinds; on the `facilities` collection only.")


# --- the embed ----------------------------------------------------------------------------


class EmbedMapParams(QueryModel):
    """``GET /embed/map``: the embeddable map."""

    partner: str | None = Field(None, description="The partner whose registered origins may frame the page.")
    kind: KindSet = Field(None, description="Facility kinds (default: all).")
    amenity: AmenitySet = Field(None, description="Required amenities (all of them).")
    datum: DatumParam = Field(Datum.WGS84, description="Datum of `lon`/`lat`.")
    lon: float | None = Field(
        None,
        ge=-180,
        le=180,
        allow_inf_nan=False,
        description="Longitude to search from; default: the city centre.",
    )
    lat: float | None = Field(
        None,
        ge=-90,
        le=90,
        allow_inf_nan=False,
        description="Latitude to search from; default: the city centre.",
    )
    open_now: QueryBool = Field(True, description="Only facilities open now.")
    zoom: int | None = Field(None, ge=ZOOM_MIN, le=ZOOM_MAX, description="The map's zoom level.")
    lang: str | None = Field(None, description="`zh` or `en`.")


class EmbedDocsParams(QueryModel):
    """``GET /embed``: the snippet generator."""

    partner: str | None = Field(None, description="A registered partner's name, for the snippet.")
    kind: KindSet = Field(None, description="Facility kinds for the snippet.")
    amenity: AmenitySet = Field(None, description="Required amenities for the snippet.")
    lang: str | None = Field(None, description="`zh` or `en`.")


# --- the management API -----------------------------------------------------------------


class IfMatch(HeaderModel):
    """A write that must name the version it is based on."""

    if_match: str = Field(
        alias="If-Match",
        description="The facility's ETag from GET /api/v1/facilities/{facility_id} "
        '(`W/"<id>-v<version>;<crc32>"`, with or without `W/` and the checksum; only the version is '
        "compared; a list may hold it). Stale: 412. "
        "Missing or `*`: 428.",
    )


class IfMatchOptional(HeaderModel):
    """A write that may name the version it is based on."""

    if_match: str | None = Field(
        None, alias="If-Match", description="Optional here: with it, a stale ETag is a 412 (`*` is a 428)."
    )


class ManageFacilitiesParams(QueryModel):
    """``GET /api/v1/manage/facilities``: the caller's facilities, filtered."""

    q: str = Field("", description="Text in the id, name or address (case-insensitive).")
    kind: KindSet = Field(None, description="Facility kinds.")
    status: StatusSet = Field(None, description="Statuses.")
    district: str | None = Field(None, description="District adcodes, comma-separated.")
    stale: QueryBool = Field(
        False, description="Only facilities not verified for `LOCATOR_STALE_DAYS` (default 90) days."
    )
    reports: QueryBool = Field(False, description="Only facilities with open rider reports.")


class ReportsParams(QueryModel):
    """``GET /api/v1/manage/reports``."""

    handled: QueryBool = Field(
        False, description="Resolved and dismissed reports (newest first) instead of the open queue."
    )


class DeleteParams(QueryModel):
    """``DELETE /api/v1/facilities/{facility_id}``."""

    reason: str = Field("", max_length=TEXT_MAX, description="Why: kept in the history.")


_LON = "Longitude in the body's `datum`, degrees."
_LAT = "Latitude in the body's `datum`, degrees."
_REASON = "Why: kept in the facility's history."
_DATUM = (
    "Datum of `lon`/`lat`: AMap and Tencent pickers give gcj02, Baidu bd09, GPS/OSM wgs84. There is no "
    "default. Stored as WGS-84."
)
_DATE = WithJsonSchema({"type": ["string", "null"], "format": "date"})


def _amenities(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        unknown = sorted(set(value) - AMENITIES.keys())
        if unknown:
            raise PydanticCustomError("unknown_values", "unknown {values}", {"values": ", ".join(unknown)})
        return value
    raise PydanticCustomError("list_of_strings", "must be a list of names")


#: Amenity keys: a list, or one comma-separated string (the domain checks the string's items).
AmenitiesField = Annotated[
    list[str] | str | None,
    BeforeValidator(_amenities),
    WithJsonSchema(
        {
            "description": "Amenity keys: a list, or one comma-separated string.",
            "anyOf": [
                {"type": "array", "items": choice_ref("Amenity"), "uniqueItems": True},
                {"type": "string"},
            ],
        }
    ),
]


class _FacilityFields(BodyModel):
    """The fields a manager writes (shared by create and patch).

    A field typed without ``None`` may be absent but not ``null``; text fields that can be
    cleared take ``null`` as empty.
    """

    __nullable__: ClassVar[frozenset[str]] = frozenset(
        {
            "address",
            "amenities",
            "opening_hours",
            "host_type",
            "phone",
            "access",
            "status_until",
            "status_reason",
            "datum",
        }
    )

    kind: Kind | None = None
    name: str | None = Field(None, min_length=1, max_length=NAME_MAX)
    address: str | None = Field(None, max_length=ADDRESS_MAX)
    lon: float | None = Field(None, allow_inf_nan=False, description=_LON)
    lat: float | None = Field(None, allow_inf_nan=False, description=_LAT)
    amenities: AmenitiesField = None
    opening_hours: str | None = Field(
        None, max_length=TEXT_MAX, description="OpenStreetMap opening_hours syntax (validated)."
    )
    host_type: Annotated[
        str | None, WithJsonSchema({"anyOf": [choice_ref("HostType"), {"const": ""}, {"type": "null"}]})
    ] = Field(None, description="Who hosts it (aliases such as 工会 are accepted).")
    phone: str | None = Field(None, max_length=32, description="Digits, spaces, +, -, ( and ).")
    access: Annotated[
        str | None, WithJsonSchema({"anyOf": [choice_ref("Access"), {"const": ""}, {"type": "null"}]})
    ] = Field(None, description="How riders get in (empty: unknown).")
    status: Status | None = None
    status_until: Annotated[str | None, _DATE] = Field(
        None, description="Only for `temporarily_closed`: the expected reopening day."
    )
    status_reason: str | None = Field(None, max_length=TEXT_MAX)
    datum: DatumParam | None = Field(None, description=_DATUM)
    reason: str = Field("", max_length=TEXT_MAX, description=_REASON)


class FacilityCreate(_FacilityFields):
    """A new facility.

    District and subdistrict are assigned by point-in-polygon; a district manager may only
    create inside their districts.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "warm_station",
                    "name": "示例·五道口暖心驿站",
                    "lon": 116.3376,
                    "lat": 39.9925,
                    "datum": "wgs84",
                    "amenities": ["heating", "drinking_water"],
                    "opening_hours": "Mo-Su 08:00-20:00",
                    "reason": "new station",
                }
            ]
        }
    )

    kind: Kind
    name: str = Field(min_length=1, max_length=NAME_MAX)
    lon: float = Field(allow_inf_nan=False, description=_LON)
    lat: float = Field(allow_inf_nan=False, description=_LAT)
    datum: DatumParam = Field(description=_DATUM)
    id: str | None = Field(
        None, pattern=ID_PATTERN, description="Optional; generated (`f-` + 16 hex digits) when absent."
    )
    source: str | None = Field(None, max_length=TEXT_MAX, description="Default `manage:<account name>`.")


class FacilityPatch(_FacilityFields):
    """Only the fields to change.

    `lon` and `lat` come together, with `datum`. Any other field is a 400 naming it; a body
    with nothing to change is a 400.
    """

    __extra_message__: ClassVar[str] = Msg("field cannot be changed here: %(name)s")
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "示例·改名驿站", "phone": "010-62345678", "reason": "new sign"}],
            "minProperties": 1,
            "dependentRequired": {"lon": ["lat", "datum"], "lat": ["lon", "datum"]},
        }
    )


class StatusChange(BodyModel):
    """``POST …/status``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "temporarily_closed", "reason": "维修"}]}
    )

    __nullable__: ClassVar[frozenset[str]] = frozenset({"until"})

    status: Status = Field(description="The new status.")
    until: Annotated[str | None, _DATE] = Field(
        None,
        description="Only for `temporarily_closed`: the expected reopening day (Asia/Shanghai), today or "
        "later.",
    )
    reason: str = Field("", max_length=TEXT_MAX, description="Required for `removed`.")


class VerifyRequest(BodyModel):
    """``POST …/verify`` (the body is optional)."""

    reason: str = Field("", max_length=TEXT_MAX, description=_REASON)


class RestoreRequest(BodyModel):
    """``POST …/restore``."""

    seq: int = Field(ge=1, le=REPORT_ID_MAX, description="The `seq` of a history entry (not a delete).")
    reason: str = Field("", max_length=TEXT_MAX, description=_REASON)


class ReportResolution(BodyModel):
    """``POST /api/v1/manage/reports/{report_id}/resolve``."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"resolution": "resolved", "action": "verified"}]}
    )

    __nullable__: ClassVar[frozenset[str]] = frozenset({"action", "until", "note"})

    resolution: Resolution = Field(description="`resolved` (acted on) or `dismissed` (nothing to do).")
    action: ReportAction | None = Field(
        "none",
        description="What was done to the facility (applied, and recorded in its history, before the "
        "report is closed). A dismissal takes `none`; `removed` needs a `note`.",
    )
    until: Annotated[str | None, _DATE] = Field(
        None, description="With `temporarily_closed`: the reopening day."
    )
    note: str | None = Field(
        None, max_length=TEXT_MAX, description="Kept with the report and in the history."
    )
