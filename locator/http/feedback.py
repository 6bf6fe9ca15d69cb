"""Rider feedback from a request: the glue the API and the HTML form share."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, request

from locator.http.models import FeedbackBody
from locator.http.state import feedback_service
from locator.services.feedback import FeedbackResult, client_pseudonym


def client_of_request(now: datetime) -> str:
    """The requesting client's daily pseudonym (:func:`~locator.services.feedback.client_pseudonym`)."""
    return client_pseudonym(current_app.config["SECRET_KEY"], request.remote_addr or "", now.date())


def submit_feedback(facility_id: str, fields: FeedbackBody, locale: str) -> FeedbackResult:
    """Hand a parsed feedback submission (JSON object or form) to the service.

    Shared by the API and the HTML form (both :func:`locator.http.sameorigin.anonymous_write`).
    """
    now = datetime.now(UTC)
    client = client_of_request(now)
    return feedback_service().submit(
        facility_id,
        fields.verdict,
        now=now,
        reason=fields.reason,
        comment=fields.comment,
        client=client,
        locale=locale,
    )
