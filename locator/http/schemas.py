"""Response models: what the API answers, for the OpenAPI document.

These pydantic models are the document's response schemas (``components/schemas``);
the views build their bodies with :mod:`locator.formats.serialize` and are not
validated against them at run time — ``tests/test_openapi.py`` and
``tests/test_schemathesis.py`` check real answers against the generated document.
Enumerations refer to the named choices of :mod:`locator.http.models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from locator.core.history import REASON_CODES
from locator.http.models import choice_ref

#: ``[longitude, latitude]`` in degrees.
Coordinates = Annotated[list[float], Field(min_length=2, max_length=2)]


def _ref(name: str) -> Any:
    """A field type documented as the named choice ``name`` (see :data:`locator.http.models.CHOICES`)."""
    return Annotated[str, WithJsonSchema(choice_ref(name))]


def _nullable_ref(name: str) -> Any:
    return Annotated[
        str | None,
        WithJsonSchema({"anyOf": [choice_ref(name), {"type": "null"}]}),
    ]


def _ref_or_blank(name: str) -> Any:
    return Annotated[str, WithJsonSchema({"anyOf": [choice_ref(name), {"const": ""}]})]


if TYPE_CHECKING:
    DatumRef: TypeAlias = str
    FeedbackReasonRef: TypeAlias = str
    KindRef: TypeAlias = str
    PlaceKindRef: TypeAlias = str
    ReportStatusRef: TypeAlias = str
    RoleRef: TypeAlias = str
    StatusRef: TypeAlias = str
    VerdictRef: TypeAlias = str
    FeedbackReasonOrBlank: TypeAlias = str
    HostTypeOrBlank: TypeAlias = str
    AccessOrBlank: TypeAlias = str
    CheckinDoorRef: TypeAlias = str
    DoorStateRef: TypeAlias = str
    OverrideStateRef: TypeAlias = str
    ReportActionOrNull: TypeAlias = str | None
else:
    DatumRef = _ref("Datum")
    FeedbackReasonRef = _ref("FeedbackReason")
    KindRef = _ref("Kind")
    PlaceKindRef = _ref("PlaceKind")
    ReportStatusRef = _ref("ReportStatus")
    RoleRef = _ref("Role")
    StatusRef = _ref("Status")
    VerdictRef = _ref("Verdict")
    FeedbackReasonOrBlank = _ref_or_blank("FeedbackReason")
    HostTypeOrBlank = _ref_or_blank("HostType")
    AccessOrBlank = _ref_or_blank("Access")
    CheckinDoorRef = _ref("CheckinDoor")
    DoorStateRef = _ref("DoorState")
    OverrideStateRef = _ref("OverrideState")
    ReportActionOrNull = _nullable_ref("ReportAction")

DateTime = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
NullableDateTime = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date-time"})]
NullableDate = Annotated[str | None, WithJsonSchema({"type": ["string", "null"], "format": "date"})]
Uri = Annotated[str, WithJsonSchema({"type": "string", "format": "uri"})]
#: A link target: absolute with LOCATOR_PUBLIC_URL, else site-relative (RFC 3986 URI reference).
UriReference = Annotated[str, WithJsonSchema({"type": "string", "format": "uri-reference"})]


class Schema(BaseModel):
    """Base of the response models: extra members are allowed (``additionalProperties``)."""

    model_config = ConfigDict(extra="allow")


class Problem(Schema):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int = Field(ge=400, le=599)
    detail: str
    param: str = Field("", description="The parameter or field at fault.")


class VersionConflict(Problem):
    """A stale ``If-Match``: the version now stored is ``current_version``."""

    current_version: int = Field(ge=1)


class Link(Schema):
    """A web link."""

    href: UriReference
    rel: str
    type: str = ""
    title: str = ""


class Point(Schema):
    """A GeoJSON Point."""

    type: Literal["Point"]
    coordinates: Coordinates = Field(
        description="[longitude, latitude] in degrees: WGS-84 unless the response says otherwise in "
        "coordinate_datum."
    )


class District(Schema):
    """The district a facility lies in."""

    adcode: str = Field(pattern=r"^[0-9]{6}$")
    name: str | None


class LiveBlock(Schema):
    """Is the door actually open? (docs/riders.md, "Live door status").

    Rules: a facility `temporarily_closed` is `closed_by_manager`; otherwise the most recent
    manager override or fresh door-device state decides (manager and device beat riders;
    recency wins between them); else riders' check-ins of the last 2 hours that came after
    them (the most recent `open`/`locked` decides; `reports` counts different riders); else
    the opening hours. Two independent `locked` reports within 2 hours rank a station below
    every open one on the rider pages; one report is shown but demotes nothing.
    """

    state: Annotated[
        str,
        WithJsonSchema(
            {
                "enum": [
                    "confirmed_open",
                    "reported_locked",
                    "closed_by_manager",
                    "scheduled_open",
                    "scheduled_closed",
                    "unknown",
                ]
            }
        ),
    ]
    since: NullableDateTime = Field(
        description="When the event that set the state happened; null for the schedule's states."
    )
    source: Annotated[
        str | None, WithJsonSchema({"enum": ["manager", "device", "riders", "schedule", None]})
    ] = Field(description="Who says so; null when unknown.")
    reports: int = Field(ge=0, description="With `source: riders`: how many different riders said so.")


class FacilityProperties(Schema):
    """A facility's properties."""

    id: str
    kind: KindRef
    name: str
    address: str
    district: District | None = None
    subdistrict: str | None = None
    amenities: Annotated[
        list[str],
        WithJsonSchema({"type": "array", "items": choice_ref("Amenity"), "uniqueItems": True}),
    ]
    opening_hours: str = Field("", description="OpenStreetMap opening_hours syntax.")
    host_type: HostTypeOrBlank = ""
    phone: str = ""
    access: AccessOrBlank = Field("", description="How riders get in (empty: unknown).")
    status: StatusRef
    status_until: NullableDate = None
    status_reason: str = ""
    verified_at: NullableDateTime = None
    updated_at: NullableDateTime = None
    version: int = Field(ge=1)
    source: str = ""
    demo: bool = Field(description="True for DEMO data (示例): not a real station.")
    open_now: bool | None = Field(
        None, description="Open at the query instant (Asia/Shanghai); null when hours are unknown."
    )
    live: LiveBlock | None = Field(
        None, description="Live door status at the query instant (single facility and nearest answers)."
    )


class Facility(Schema):
    """One facility as an RFC 7946 GeoJSON Feature."""

    type: Literal["Feature"]
    id: str
    geometry: Point
    properties: FacilityProperties
    links: list[Link] = Field(default_factory=list)


class NearestProperties(FacilityProperties):
    """A facility's properties in a nearest answer."""

    distance_m: float = Field(ge=0, description="Geodesic distance on WGS-84, metres.")
    bearing_deg: float = Field(ge=0, lt=360, description="Initial bearing from the query point, degrees.")
    rank: int = Field(ge=1)
    open_now: bool | None = Field(
        description="Open at the query instant (Asia/Shanghai); null when hours are unknown."
    )


class NearestFacility(Facility):
    """A facility in a nearest answer."""

    properties: NearestProperties


class NearestCollection(Schema):
    """Facilities in ascending geodesic distance."""

    type: Literal["FeatureCollection"]
    coordinate_datum: DatumRef
    query: dict[str, Any] = Field(description="The query as understood.")
    numberReturned: int = Field(ge=0)  # noqa: N815 (the GeoJSON/OGC member name)
    features: list[NearestFacility]


class ChangeFeed(Schema):
    """A page of the change feed."""

    type: Literal["FeatureCollection"]
    modified_since: NullableDateTime = None
    revision: int = Field(ge=0)
    numberMatched: int = Field(ge=0)  # noqa: N815
    numberReturned: int = Field(ge=0)  # noqa: N815
    next_cursor: str | None
    links: list[Link]
    features: list[Facility]


class Licence(Schema):
    """The data's licence."""

    id: str
    name: str
    url: Uri


class Export(Schema):
    """Every facility with licence and attribution metadata."""

    type: Literal["FeatureCollection"]
    name: str = ""
    licence: Licence
    attribution: str
    demo_count: int = Field(ge=0)
    disclaimer: str | None
    revision: int = Field(ge=0)
    numberReturned: int = Field(0, ge=0)  # noqa: N815
    features: list[Facility]


class LandingPage(Schema):
    """The OGC API landing page."""

    title: str = ""
    description: str = ""
    links: list[Link]


class ConfClasses(Schema):
    """The conformance classes implemented."""

    conformsTo: list[str]  # noqa: N815


class SpatialExtent(Schema):
    """A collection's bounding box."""

    bbox: list[Annotated[list[float], Field(min_length=4, max_length=4)]] = Field(default_factory=list)
    crs: str = ""


class Extent(Schema):
    """A collection's extent."""

    spatial: SpatialExtent = Field(default_factory=SpatialExtent)


class Collection(Schema):
    """One OGC feature collection."""

    id: str
    title: str = ""
    description: str = ""
    itemType: Literal["feature"] = "feature"  # noqa: N815
    crs: list[str] = Field(default_factory=list)
    storageCrs: str = ""  # noqa: N815
    links: list[Link]
    extent: Extent | None = None


class Collections(Schema):
    """Every OGC feature collection."""

    links: list[Link]
    collections: list[Collection]


class FeatureCollection(Schema):
    """A page of an OGC collection's items."""

    type: Literal["FeatureCollection"]
    features: list[Facility]
    links: list[Link]
    numberMatched: int = Field(ge=0)  # noqa: N815
    numberReturned: int = Field(ge=0)  # noqa: N815


class PlaceProperties(Schema):
    """What a place is."""

    kind: PlaceKindRef
    id: str = Field(description="Adcode, subdistrict code, `osm-node-…` or facility id.")
    name: str
    name_en: str = Field(description="English/pinyin name, or empty.")
    context: str = Field(description="Where it is: the district name, or the facility's address.")
    score: float = Field(gt=0, description="Higher is better.")


class Place(Schema):
    """A place to search from, as a GeoJSON Feature (`id` is `<kind>:<id>`)."""

    type: Literal["Feature"]
    id: str
    geometry: Point
    properties: PlaceProperties


class PlaceQuery(Schema):
    """The place query as understood."""

    q: str = Field(description="The query, trimmed.")


class PlaceCollection(Schema):
    """Places, best first."""

    type: Literal["FeatureCollection"]
    coordinate_datum: DatumRef
    query: PlaceQuery
    numberReturned: int = Field(ge=0)  # noqa: N815
    features: list[Place]


class FeedbackReceipt(Schema):
    """A stored rider answer."""

    id: int = Field(ge=1)
    facility_id: str
    verdict: VerdictRef
    reason: FeedbackReasonOrBlank
    at: DateTime
    verified: bool = Field(
        description="This answer completed a verification (two different clients said `confirm` "
        "within 30 days, with no problem reported)."
    )
    verified_at: NullableDateTime = Field(description="The facility's verification time after this answer.")


class CheckinReceipt(Schema):
    """A stored rider check-in and the facility's live status right after it."""

    id: int = Field(ge=1)
    facility_id: str
    door: CheckinDoorRef
    at: DateTime
    live: LiveBlock


class DoorEventReceipt(Schema):
    """A stored door-device event and the facility's live status right after it."""

    id: int = Field(ge=1)
    facility_id: str
    key: str = Field(description="The door key id.")
    state: DoorStateRef
    at: DateTime = Field(description="When the server received it.")
    live: LiveBlock


class LiveOverrideReceipt(Schema):
    """A stored manager override and the facility's live status right after it."""

    id: int = Field(ge=1)
    facility_id: str
    state: OverrideStateRef
    at: DateTime
    until: NullableDateTime
    reason: str
    live: LiveBlock


class Account(Schema):
    """The authenticated account and its scope."""

    name: str
    role: RoleRef
    districts: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(
        description="District adcodes a district manager manages."
    )
    facilities: list[str] = Field(description="Facility ids assigned to a station manager.")


class ManagedFacilities(Schema):
    """The caller's facilities, by name then id (WGS-84)."""

    type: Literal["FeatureCollection"]
    numberMatched: int = Field(ge=0)  # noqa: N815
    numberReturned: int = Field(ge=0)  # noqa: N815
    features: list[Facility]


class DuplicateWarning(Schema):
    """A likely duplicate.

    A facility of the same kind within 30 m, or a similar name within 200 m (WGS-84
    geodesic metres).
    """

    facility_id: str
    name: str
    kind: KindRef
    distance_m: float = Field(ge=0)
    reasons: Annotated[
        list[str],
        WithJsonSchema({"type": "array", "minItems": 1, "items": {"enum": ["same_kind", "similar_name"]}}),
    ]


class FacilityWithWarnings(Facility):
    """A facility just written, with likely duplicates nearby."""

    warnings: list[DuplicateWarning]


class HistoryEntry(Schema):
    """One change in a facility's append-only history."""

    seq: int = Field(ge=1, description="Store-wide, ascending in commit order.")
    facility_id: str
    revision: int = Field(ge=0, description="The store revision of the change.")
    version: int = Field(ge=0, description="After the change (0 for a delete).")
    action: Annotated[str, WithJsonSchema({"enum": ["create", "update", "delete", "import"]})]
    actor: str = Field(description="Account name, `import` or `rider-feedback`.")
    reason: str = Field(description="The person's own words (may be empty).")
    reason_code: Annotated[str, WithJsonSchema({"enum": sorted(REASON_CODES)})] | None = Field(
        description="What the system records beside the words: `verified`, `status`, `restore`, "
        "`report`, `bulk`, `rider_confirmations`; null for a plain create, edit or delete."
    )
    reason_params: dict[str, Any] = Field(
        description="The code's parameters: `status`; `seq`, `version`; `report`, `report_reason`, "
        "`action`; `file`; `count`, `since`."
    )
    at: DateTime
    changes: dict[str, Annotated[list[Any], Field(min_length=2, max_length=2)]] = Field(
        description="`{field: [old, new]}` (null for absent)."
    )


class History(Schema):
    """A facility's history, oldest first."""

    facility_id: str
    entries: list[HistoryEntry]


class ReportFacility(Schema):
    """The facility a report is about, as it is now."""

    name: str
    status: StatusRef
    version: int = Field(ge=1)


class RiderReport(Schema):
    """A rider's problem feedback, as the managers' queue sees it."""

    id: int = Field(ge=1)
    facility_id: str
    facility: ReportFacility | None = Field(description="The facility now; null when it was deleted.")
    reason: FeedbackReasonRef
    text: str = Field(description="The rider's words (untrusted text).")
    created_at: DateTime
    status: ReportStatusRef
    resolved_at: NullableDateTime
    resolved_by: str | None
    action: ReportActionOrNull
    note: str


class RiderReports(Schema):
    """Open reports oldest first, or handled ones newest first."""

    reports: list[RiderReport]


# --- the city map -----------------------------------------------------------------------


class MapClusters(Schema):
    """What the city map shows of a bbox at a zoom level."""

    revision: int = Field(ge=0, description="The index revision answered (also the ETag).")
    zoom: int
    datum: DatumRef = Field(description="Datum of every position below (the request's `datum`).")
    covered: tuple[float, float, float, float] = Field(
        description="west, south, east, north in WGS-84 degrees: the bbox grown to whole grid cells. "
        "Every facility shown in it is counted exactly once below."
    )
    kinds: list[KindRef] = Field(description="Kind names; `kind` below is a position in this list.")
    clusters: list[tuple[float, float, Annotated[int, Field(ge=2)], Annotated[int, Field(ge=0)]]] = Field(
        description="[longitude, latitude, count, kind]: two or more facilities of one kind in one "
        "cell, at their mean position."
    )
    facilities: list[tuple[float, float, str, Annotated[int, Field(ge=0)]]] = Field(
        description="[longitude, latitude, id, kind]: facilities on their own (details: "
        "`/api/v1/map/facilities/{facility_id}`)."
    )


class MapFacility(Schema):
    """What the city map's popup shows of a facility (text as stored: insert it as text)."""

    id: str
    kind: KindRef
    name: str
    address: str
    status: StatusRef
    demo: bool
    coordinates: Coordinates = Field(description="[longitude, latitude], WGS-84 degrees.")


class MapDistricts(Schema):
    """District boundaries for the city map, each shared edge once, delta-encoded."""

    level: int = Field(ge=0, description="The detail level chosen for the zoom.")
    datum: DatumRef
    quantum: float = Field(gt=0, description="Degrees per coordinate unit.")
    lines: list[list[int]] = Field(
        description="Per line `[x0, y0, dx1, dy1, …]`: vertex i is (x0 + dx1 + … + dxi, y0 + … + dyi) "
        "times `quantum`, as longitude, latitude degrees in `datum`."
    )


#: Every response model, in the order the document lists them.
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    Problem,
    VersionConflict,
    Link,
    Point,
    Facility,
    NearestFacility,
    NearestCollection,
    ChangeFeed,
    Export,
    LandingPage,
    ConfClasses,
    Collection,
    Collections,
    FeatureCollection,
    Place,
    PlaceCollection,
    FeedbackReceipt,
    CheckinReceipt,
    DoorEventReceipt,
    LiveOverrideReceipt,
    Account,
    ManagedFacilities,
    FacilityWithWarnings,
    History,
    RiderReports,
    MapClusters,
    MapFacility,
    MapDistricts,
)
