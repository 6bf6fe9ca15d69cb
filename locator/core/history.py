"""History in words: machine-readable change records, and sentences made from them.

What the history stores
-----------------------
Each history entry (``facility_history``) keeps ``changes`` — ``{field: [old, new]}``
with JSON values, machine-readable already — and a free-text ``reason`` column. Since
issue 14 that column holds either

* **the person's own words** (a manager's "why" for a plain create, edit or delete), stored
  as typed and never translated, or
* a **reason record**: a JSON object ``{"code": …, <parameters>, "note": <their words>}``
  (:func:`encode_reason`), for everything the system itself means — ``verified``,
  ``status``, ``restore`` (``seq``, ``version``), ``report`` (``report``,
  ``report_reason``, ``action``), ``bulk`` (``file``), ``rider_confirmations``
  (``count``, ``since``). See :data:`REASON_CODES`.

No sentence is stored. Entries written before (English text such as ``verified``,
``status: temporarily_closed: …``, ``restore #3 (version 2)``, ``rider report #7
(closed)``, ``bulk upload f.csv: …``, ``3 rider confirmations since …``) are recognised
by :func:`parse_reason` and read as the same records.

What the pages show
-------------------
:func:`describe_entry` turns one entry (with the facility's state before it, so a move
of the longitude alone still has both points) into a headline and detail sentences:
"Status changed to temporarily closed (heating repair) until 12-20", "Pin moved 23 m to
the north-east" (geodesic distance and initial bearing on WGS-84,
:func:`locator.core.geo.geodesic_inverse`), "Hours changed: Mon–Fri 08:00–18:00 → every
day 08:00–20:00" (:mod:`locator.core.hours_editor`). They are :class:`~locator.errors.Msg`
trees with domain labels as :class:`~locator.errors.Term`: English as strings, and in the
page's language through the ``tr`` filter. No Flask here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from locator.core import domain
from locator.core.domain import FEEDBACK_REASONS, STATUSES, Label
from locator.core.geo import geodesic_inverse
from locator.core.hours_editor import describe_value
from locator.errors import Msg, Term

#: Reason codes and what they mean (parameters in brackets).
REASON_CODES: Final = {
    "verified": "checked and found right",
    "status": "status set through the status form or API [status]",
    "restore": "back to the state after an entry [seq, version]",
    "report": "a rider report handled [report, report_reason, action]",
    "bulk": "a bulk upload [file]",
    "rider_confirmations": "verified by riders' confirmations [count, since]",
}

_RECORD_PREFIX: Final = '{"code":'

#: Field names in words (the keys are the domain's field names).
FIELD_WORDS: Final[dict[str, Msg]] = {
    "kind": Msg("Kind"),
    "name": Msg("Name"),
    "address": Msg("Address"),
    "lon": Msg("Longitude"),
    "lat": Msg("Latitude"),
    "amenities": Msg("Amenities"),
    "opening_hours": Msg("Opening hours"),
    "host_type": Msg("Host"),
    "phone": Msg("Phone"),
    "access": Msg("Access"),
    "status": Msg("Status"),
    "status_until": Msg("Closed until"),
    "status_reason": Msg("Status reason"),
    "district_adcode": Msg("District code"),
    "district_name": Msg("District"),
    "subdistrict": Msg("Subdistrict"),
    "verified_at": Msg("Last verified"),
    "source": Msg("Source"),
    "demo": Msg("Demo data"),
}

#: System actors in words (account names are shown as they are).
ACTOR_WORDS: Final[dict[str, Msg]] = {
    "rider-feedback": Msg("riders"),
    "load-demo": Msg("demo layer loader"),
    "import": Msg("data import"),
    "cli-import": Msg("command-line import"),
    "system": Msg("the system"),
}

#: The eight compass points, clockwise from north.
COMPASS: Final = (
    Msg("north"),
    Msg("north-east"),
    Msg("east"),
    Msg("south-east"),
    Msg("south"),
    Msg("south-west"),
    Msg("west"),
    Msg("north-west"),
)


@dataclass(frozen=True, slots=True)
class Reason:
    """A history entry's reason, read (see the module docstring).

    Attributes
    ----------
    code : str
        One of :data:`REASON_CODES`, or ``""`` for the person's words alone.
    note : str
        The person's own words (may be empty).
    params : dict
        The code's parameters (JSON values).
    """

    code: str = ""
    note: str = ""
    params: dict[str, Any] = field(default_factory=dict)


def encode_reason(code: str, note: str = "", **params: Any) -> str:
    """The text a history entry's ``reason`` stores for ``code`` (see the module docstring).

    Parameters
    ----------
    code : str
        A key of :data:`REASON_CODES`, or ``""``: the note is stored as it is (unless it
        looks like a reason record itself, which is then wrapped, so nobody's words are
        ever read as a code).
    note : str
        The person's words.
    **params
        JSON values.

    Raises
    ------
    ValueError
        For an unknown code.

    Examples
    --------
    >>> encode_reason("restore", "wrong pin", seq=3, version=2)
    '{"code":"restore","seq":3,"version":2,"note":"wrong pin"}'
    >>> encode_reason("", "新电话")
    '新电话'
    """
    note = (note or "").strip()
    if not code and not note.startswith(_RECORD_PREFIX):
        return note
    if code and code not in REASON_CODES:
        raise ValueError(f"unknown reason code {code!r}")
    record = {"code": code, **params}
    if note:
        record["note"] = note
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


_LEGACY: Final = (
    (re.compile(r"^verified(?:: (?P<note>.*))?$", re.S), "verified"),
    (re.compile(r"^status: (?P<status>open|temporarily_closed|removed)(?:: (?P<note>.*))?$", re.S), "status"),
    (re.compile(r"^restore #(?P<seq>\d+) \(version (?P<version>\d+)\)(?:: (?P<note>.*))?$", re.S), "restore"),
    (
        re.compile(r"^rider report #(?P<report>\d+) \((?P<report_reason>\w+)\)(?:: (?P<note>.*))?$", re.S),
        "report",
    ),
    (re.compile(r"^bulk upload (?P<file>[^:]+?)(?:: (?P<note>.*))?$", re.S), "bulk"),
    (re.compile(r"^(?P<count>\d+) rider confirmations since (?P<since>\S+)$"), "rider_confirmations"),
)
_LEGACY_WORDS: Final = {"created": "", "edited": "", "deleted": "", "bulk upload": "bulk"}


def parse_reason(text: str | None) -> Reason:
    """Read a stored ``reason``: a reason record, an older English reason, or someone's words.

    Examples
    --------
    >>> parse_reason('{"code":"restore","seq":3,"version":2}')
    Reason(code='restore', note='', params={'seq': 3, 'version': 2})
    >>> parse_reason("status: temporarily_closed: 暖气维修")
    Reason(code='status', note='暖气维修', params={'status': 'temporarily_closed'})
    >>> parse_reason("入口在东侧")
    Reason(code='', note='入口在东侧', params={})
    """
    text = (text or "").strip()
    if text.startswith(_RECORD_PREFIX):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict) and isinstance(record.get("code"), str):
            code = record.pop("code")
            note = record.pop("note", "")
            return Reason(code, note if isinstance(note, str) else str(note), record)
    if text in _LEGACY_WORDS:
        return Reason(_LEGACY_WORDS[text])
    for pattern, code in _LEGACY:
        m = pattern.match(text)
        if m is None:
            continue
        params: dict[str, Any] = {
            k: int(v) if v.isdigit() and k in {"seq", "version", "report", "count"} else v
            for k, v in m.groupdict().items()
            if k != "note" and v is not None
        }
        note = (m.group("note") if "note" in pattern.groupindex else None) or ""
        if code in {"status", "verified"}:  # a report resolved by a status change or a check
            inner = parse_reason(note)  # wrote the report into the note
            if inner.code == "report":
                action = params["status"] if code == "status" else "verified"
                return Reason("report", inner.note, {**inner.params, "action": action})
        return Reason(code, note, params)
    return Reason("", text)


# -- sentences ------------------------------------------------------------------------------


def term(label: Label) -> Term:
    """A domain :class:`~locator.core.domain.Label` as a :class:`~locator.errors.Term`."""
    return Term(label.zh, label.en)


def _registry(name: str) -> Mapping[str, Label] | None:
    return domain.VOCABULARIES.get(name)


def _label(registry: Mapping[str, Label], key: Any) -> Term | str:
    """A key's label as a :class:`~locator.errors.Term`, or the key itself when unknown."""
    return term(registry[key]) if key in registry else str(key or "")


def compass_point(bearing_deg: float) -> Msg:
    """The nearest of the eight compass points to a bearing (degrees clockwise from north)."""
    return COMPASS[int(((bearing_deg % 360.0) + 22.5) // 45.0) % 8]


def _day(value: Any) -> str:
    """An ISO date as ``MM-DD`` (the year is left out: closures are short)."""
    try:
        return date.fromisoformat(str(value)[:10]).strftime("%m-%d")
    except ValueError:
        return str(value)


def _instant(value: Any) -> str:
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d")
    except ValueError:
        return str(value)


def value_words(name: str, value: Any) -> Msg | str:
    """A stored field value in words: labels for keys, lists joined, hours described."""
    if value is None or value == "" or value == []:
        return Msg("(none)")
    registry = _registry(name)
    if isinstance(value, list):
        items: list[Msg | str] = [term(registry[v]) if registry and v in registry else str(v) for v in value]
        out: Msg | str = items[0]
        for item in items[1:]:
            out = Msg("%(a)s, %(b)s", a=out, b=item)
        return out
    if registry and value in registry:
        return term(registry[value])
    if name == "opening_hours":
        return describe_value(str(value)) or str(value)
    if isinstance(value, bool):
        return Msg("yes") if value else Msg("no")
    if name == "status_until":
        return _day(value)
    if name == "verified_at":
        return _instant(value)
    return str(value)


@dataclass(frozen=True, slots=True)
class EntryWords:
    """One history entry in words.

    Attributes
    ----------
    headline : Msg or str
        What happened ("Created", "Status changed", "Restored the state after entry #3"…).
    details : list of Msg or str
        One sentence per change.
    note : str
        The person's own words (shown as they are, escaped).
    actor : Msg or str
        Who: an account name, or a system actor in words.
    """

    headline: Msg | str
    details: list[Msg | str]
    note: str
    actor: Msg | str


def _move(before: Mapping[str, Any], after: Mapping[str, Any]) -> Msg | None:
    try:
        lon1, lat1 = float(before["lon"]), float(before["lat"])
        lon2, lat2 = float(after["lon"]), float(after["lat"])
    except (KeyError, TypeError, ValueError):
        return None
    dist, bearing = geodesic_inverse(lon1, lat1, lon2, lat2)
    metres = float(dist[0])
    if metres < 0.5:
        return Msg("Pin moved less than 1 m")
    return Msg("Pin moved %(m)s m to the %(dir)s", m=f"{metres:.0f}", dir=compass_point(float(bearing[0])))


def _status_sentence(after: Mapping[str, Any]) -> Msg:
    status = after.get("status")
    label = term(STATUSES[status]) if status in STATUSES else str(status)
    out = Msg("Status changed to %(status)s", status=label)
    if after.get("status_reason"):
        out = Msg("%(what)s (%(why)s)", what=out, why=str(after["status_reason"]))
    if after.get("status_until"):
        out = Msg("%(what)s until %(day)s", what=out, day=_day(after["status_until"]))
    return out


def change_sentences(
    changes: Mapping[str, list[Any]], before: Mapping[str, Any], *, created: bool = False
) -> list[Msg | str]:
    """One sentence per change of an entry.

    Parameters
    ----------
    changes : mapping
        ``{field: [old, new]}`` as the history stores it (JSON values).
    before : mapping
        The tracked fields as they were before the entry (replayed from the history), so
        that a change of ``lon`` alone still has the unchanged ``lat``.
    created : bool
        The entry creates the facility: fields are listed as set, not as changed.
    """
    after = {**before, **{k: v[1] for k, v in changes.items()}}
    out: list[Msg | str] = []
    done: set[str] = {"district_adcode", "district_name", "subdistrict", "demo", "source"}
    if created:
        done |= {"lon", "lat", "status_until", "status_reason", "verified_at"}
        for name in ("name", "kind", "address", "amenities", "opening_hours", "host_type", "phone", "access"):
            if name in changes and changes[name][1] not in (None, "", []):
                out.append(
                    Msg(
                        "%(field)s: %(value)s",
                        field=FIELD_WORDS[name],
                        value=value_words(name, changes[name][1]),
                    )
                )
        if changes.get("status", [None, "open"])[1] != "open":
            out.append(_status_sentence(after))
        if after.get("district_name"):
            out.append(
                Msg(
                    "In %(district)s %(sub)s",
                    district=str(after["district_name"]),
                    sub=str(after.get("subdistrict") or ""),
                )
            )
        return out
    if "lon" in changes or "lat" in changes:
        move = _move(before, after)
        if move is not None:
            out.append(move)
        if "district_name" in changes and after.get("district_name"):
            out.append(Msg("Now in %(district)s", district=str(after["district_name"])))
        done |= {"lon", "lat"}
    if {"status", "status_until", "status_reason"} & changes.keys():
        if "status" in changes:
            out.append(_status_sentence(after))
        else:
            for name in ("status_until", "status_reason"):
                if name in changes:
                    out.append(
                        Msg(
                            "%(field)s changed: %(old)s → %(new)s",
                            field=FIELD_WORDS[name],
                            old=value_words(name, changes[name][0]),
                            new=value_words(name, changes[name][1]),
                        )
                    )
        done |= {"status", "status_until", "status_reason"}
    if "opening_hours" in changes:
        old, new = changes["opening_hours"]
        out.append(
            Msg(
                "Hours changed: %(old)s → %(new)s",
                old=describe_value(old or "") or str(old),
                new=describe_value(new or "") or str(new),
            )
        )
        done.add("opening_hours")
    if "amenities" in changes:
        old_set, new_set = set(changes["amenities"][0] or []), set(changes["amenities"][1] or [])
        added, removed = sorted(new_set - old_set), sorted(old_set - new_set)
        if added:
            out.append(Msg("Amenities added: %(items)s", items=value_words("amenities", added)))
        if removed:
            out.append(Msg("Amenities removed: %(items)s", items=value_words("amenities", removed)))
        done.add("amenities")
    if "verified_at" in changes:
        done.add("verified_at")
    for name, (old, new) in changes.items():
        if name in done:
            continue
        out.append(
            Msg(
                "%(field)s changed: %(old)s → %(new)s",
                field=FIELD_WORDS.get(name, name),
                old=value_words(name, old),
                new=value_words(name, new),
            )
        )
    return out


_REPORT_ACTIONS: Final = {
    "none": Msg("no change needed"),
    "verified": Msg("checked: it is right"),
    "temporarily_closed": Msg("marked temporarily closed"),
    "removed": Msg("marked removed"),
    "open": Msg("marked open again"),
}


def _headline(action: str, reason: Reason, changes: Mapping[str, Any]) -> Msg:
    p = reason.params
    if reason.code == "verified" or (
        reason.code == "" and action == "update" and set(changes) == {"verified_at"}
    ):
        return Msg("Verified: checked and right")
    if reason.code == "status":
        status = p.get("status")
        label = term(STATUSES[status]) if status in STATUSES else str(status)
        return Msg("Status confirmed: %(status)s", status=label)
    if reason.code == "restore":
        return Msg(
            "Restored the state after entry #%(seq)s (version %(version)s)",
            seq=p.get("seq", "?"),
            version=p.get("version", "?"),
        )
    if reason.code == "report" and not p.get("action"):
        return Msg(
            "Rider report #%(id)s (%(reason)s) handled",
            id=p.get("report", "?"),
            reason=_label(FEEDBACK_REASONS, p.get("report_reason")),
        )
    if reason.code == "report":
        return Msg(
            "Rider report #%(id)s (%(reason)s) handled: %(action)s",
            id=p.get("report", "?"),
            reason=_label(FEEDBACK_REASONS, p.get("report_reason")),
            action=_REPORT_ACTIONS.get(str(p.get("action")), str(p.get("action", ""))),
        )
    if reason.code == "bulk":
        if p.get("file"):
            return Msg("Bulk upload of %(file)s", file=str(p["file"]))
        return Msg("Bulk upload")
    if reason.code == "rider_confirmations":
        return Msg("Verified by %(n)s riders' confirmations", n=p.get("count", "?"))
    return {
        "create": Msg("Created"),
        "update": Msg("Edited"),
        "delete": Msg("Deleted"),
        "import": Msg("Imported"),
    }.get(action, Msg("Changed"))


def describe_entry(
    action: str, actor: str, reason_text: str, changes: Mapping[str, list[Any]], before: Mapping[str, Any]
) -> EntryWords:
    """One history entry in words (see the module docstring).

    Parameters
    ----------
    action : str
        ``create``, ``update``, ``delete`` or ``import``.
    actor : str
        The account or system actor name.
    reason_text : str
        The stored ``reason``.
    changes : mapping
        ``{field: [old, new]}``.
    before : mapping
        The facility's tracked fields before this entry (empty for a creation).
    """
    reason = parse_reason(reason_text)
    created = not before and action in {"create", "import"}
    details = [] if action == "delete" else change_sentences(changes, before, created=created)
    headline: Msg | str = _headline(action, reason, changes)
    if reason.code == "status" and "status" in changes and details:
        headline = details.pop(0)  # "Status changed to … (why) until …" says it all
    note = reason.note
    after_reason = changes["status_reason"][1] if "status_reason" in changes else before.get("status_reason")
    if reason.code in {"status", "report"} and note and note == after_reason:
        note = ""  # already said, in brackets after the new status
    return EntryWords(
        headline=headline,
        details=details,
        note=note,
        actor=ACTOR_WORDS.get(actor, actor),
    )
