"""Rider feedback from a request: the glue the API and the HTML form share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import current_app, request

from locator.errors import ValidationError
from locator.http.state import feedback_service
from locator.services.feedback import client_pseudonym


def submit_feedback(facility_id: str, data: Any, locale: str) -> Any:
    """Parse a feedback submission (JSON object or form) and hand it to the service.

    Shared by the API and the HTML form (both :func:`locator.http.sameorigin.anonymous_write`).
    """
    if not hasattr(data, "get"):
        raise ValidationError("the body must be a JSON object or a form", param="body")
    fields = {}
    for name in ("verdict", "reason", "comment"):
        value = data.get(name, "")
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ValidationError(f"{name} must be text", param=name)
        fields[name] = value
    now = datetime.now(UTC)
    client = client_pseudonym(current_app.config["SECRET_KEY"], request.remote_addr or "", now.date())
    return feedback_service().submit(
        facility_id,
        fields["verdict"].strip(),
        now=now,
        reason=fields["reason"],
        comment=fields["comment"],
        client=client,
        locale=locale,
    )
