"""Rider feedback: "still correct?" and "report a problem", and how a yes verifies.

No Flask here; the HTTP views pass the client pseudonym and the clock.

Verification rule (docs/riders.md)
----------------------------------
A facility's ``verified_at`` is set to now, through the store (history actor
``rider-feedback``), when **"still correct" answers from two different clients**
(:data:`CONFIRMATIONS_NEEDED`) arrive after the later of its last verification and
30 days ago (:data:`CONFIRMATION_WINDOW`), **and no problem was reported in that same
period**. One tap is never enough on its own, one client cannot verify alone on one
day, and any problem report holds the facility back for a manager until the manager
resolves or dismisses it in the report queue (problem reports never change a facility
by themselves).

"Different clients" are told apart by :func:`client_pseudonym`: an HMAC of the
client's IP address and the UTC day under the app's secret key, truncated to 64 bits.
No IP address is stored, and pseudonyms cannot be linked across days, so the same
person confirming on two different days counts twice: an accepted trade-off for
anonymity (the per-client rate limit in :mod:`locator.http.limits` bounds abuse). Riders
behind one carrier-grade NAT address count as one client per day.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

from locator.core.domain import FEEDBACK_REASONS, FEEDBACK_VERDICTS, TEXT_MAX, Facility, Feedback
from locator.core.history import encode_reason
from locator.errors import Msg, ValidationError, VersionConflictError
from locator.services.facilities import LocatorService
from locator.stores.contract import Actor

log = logging.getLogger(__name__)

#: "Still correct" answers from this many different clients verify a facility.
CONFIRMATIONS_NEEDED: Final = 2
#: ...when they arrive within this window (and after the last verification).
CONFIRMATION_WINDOW: Final = timedelta(days=30)
#: The history actor of verifications made by rider feedback.
FEEDBACK_ACTOR: Final = "rider-feedback"

_CONTROL_RE: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def client_pseudonym(secret: str, remote_addr: str, day: date) -> str:
    """A daily-rotating pseudonym for a client: HMAC-SHA256(secret, day|addr), 16 hex digits.

    Parameters
    ----------
    secret : str
        The app's secret key (never leaves the server).
    remote_addr : str
        The client's IP address as the server sees it (not stored).
    day : date
        The UTC day; the pseudonym changes every day.

    Examples
    --------
    >>> from datetime import date
    >>> a = client_pseudonym("k" * 32, "10.0.0.1", date(2026, 11, 22))
    >>> len(a), a == client_pseudonym("k" * 32, "10.0.0.1", date(2026, 11, 23))
    (16, False)
    """
    mac = hmac.new(secret.encode(), f"{day.isoformat()}|{remote_addr}".encode(), hashlib.sha256)
    return mac.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What a report did.

    Attributes
    ----------
    feedback : Feedback
        As stored (with its id).
    verified : bool
        This report completed a verification (``verified_at`` was set).
    facility : Facility
        The facility after the report.
    """

    feedback: Feedback
    verified: bool
    facility: Facility


def _clean_comment(comment: str) -> str:
    comment = comment.strip()
    if len(comment) > TEXT_MAX:
        raise ValidationError(
            Msg("%(name)s is longer than %(max)s characters", name="comment", max=TEXT_MAX), param="comment"
        )
    # Newlines and tabs are kept; other control characters are dropped.
    return _CONTROL_RE.sub("", comment)


class FeedbackService:
    """Receive rider feedback and apply the verification rule.

    Parameters
    ----------
    locator : LocatorService
        Its store keeps the feedback; its index is refreshed after a verification.
    """

    def __init__(self, locator: LocatorService) -> None:
        self.locator = locator

    def submit(
        self,
        facility_id: str,
        verdict: str,
        *,
        now: datetime,
        reason: str = "",
        comment: str = "",
        client: str = "",
        locale: str = "",
    ) -> FeedbackResult:
        """Store one report; a ``confirm`` may verify the facility (module docstring).

        Parameters
        ----------
        facility_id : str
        verdict : {"confirm", "problem"}
        now : datetime
            Timezone-aware; the report's time.
        reason : str
            Required for ``problem`` (a key of :data:`locator.core.domain.FEEDBACK_REASONS`),
            empty for ``confirm``.
        comment : str
            Optional, at most 500 characters.
        client : str
            The sender's pseudonym (:func:`client_pseudonym`).
        locale : str
            ``zh`` or ``en``.

        Returns
        -------
        FeedbackResult

        Raises
        ------
        NotFoundError
            Unknown facility.
        ValidationError
            Bad verdict, reason or comment (``param`` names it).
        """
        f = self.locator.get(facility_id)
        if verdict not in FEEDBACK_VERDICTS:
            raise ValidationError(Msg("verdict must be confirm or problem"), param="verdict")
        reason = reason.strip()
        if verdict == "problem" and reason not in FEEDBACK_REASONS:
            raise ValidationError(
                Msg("reason must be one of %(values)s", values=", ".join(FEEDBACK_REASONS)), param="reason"
            )
        if verdict == "confirm" and reason:
            raise ValidationError(Msg("a confirmation takes no reason"), param="reason")
        fb = Feedback(
            facility_id=f.id,
            verdict=verdict,
            at=now,
            reason=reason,
            comment=_clean_comment(comment),
            client=client[:64],
            facility_version=f.version,
            locale=locale[:8],
        )
        stored = self.locator.store.add_feedback(fb)
        verified = False
        if verdict == "confirm":
            verified, f = self._maybe_verify(f.id, now)
        return FeedbackResult(stored, verified, f)

    def _maybe_verify(self, facility_id: str, now: datetime) -> tuple[bool, Facility]:
        store = self.locator.store
        for _attempt in range(3):
            f = store.get(facility_id)
            since = now - CONFIRMATION_WINDOW
            if f.verified_at is not None and f.verified_at > since:
                since = f.verified_at
            recent = store.list_feedback(facility_id, since=since)
            open_ids = self._open_problem_ids(facility_id)
            if any(x.verdict == "problem" and x.id in open_ids for x in recent):
                return False, f
            clients = {x.client or f"#{x.id}" for x in recent if x.verdict == "confirm"}
            if len(clients) < CONFIRMATIONS_NEEDED:
                return False, f
            why = encode_reason("rider_confirmations", count=len(clients), since=since.isoformat())
            actor = Actor(FEEDBACK_ACTOR, reason=why)
            try:
                updated = store.update(f.replace(verified_at=now), f.version, actor)
            except VersionConflictError:
                log.info("verification of %s raced with another write; retrying", facility_id)
                continue
            self.locator.written([updated])
            return True, updated
        return False, store.get(facility_id)

    def _open_problem_ids(self, facility_id: str) -> set[int]:
        """Ids of the facility's problem reports no manager has handled."""
        reports = self.locator.store.list_reports(
            statuses=frozenset({"open"}), facility_ids=frozenset({facility_id})
        )
        return {r.id for r in reports}

    def recent_problems(self, facility_id: str, now: datetime, days: int = 14) -> list[Feedback]:
        """Open problem reports about a facility in the last ``days`` days, newest first.

        Reports a manager has resolved or dismissed are not shown to riders any more.
        """
        since = now - timedelta(days=days)
        problems = self.locator.store.list_feedback(facility_id, since=since, verdict="problem")
        open_ids = self._open_problem_ids(facility_id)
        return [p for p in problems if p.id in open_ids]
