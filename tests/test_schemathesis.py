"""Contract = behaviour: schemathesis over every documented operation, on both stores.

For each store (SQLite, PostGIS — ``demo_app_factory``) and each caller (anonymous, a
Haidian district manager, an admin — bearer tokens), every operation of the generated
OpenAPI document is called in-process (WSGI) with cases generated from the document:

* valid cases (``positive``) and the document's examples, where two thirds of the cases
  aimed at a facility use a real one, and half of those also send its current
  ``If-Match``, so that creates, edits, status changes, verifications and deletes really
  run (on generated bodies too), and reads meet a precondition they cannot meet (412);
* invalid cases (``negative``: wrong types, out-of-range values, unknown enums...).

Every answer must pass schemathesis' checks: no 5xx, a documented status code, a
documented content type, documented headers, a body valid against the documented schema.
The run is bounded (:data:`EXAMPLES` per operation and caller, derandomised so that CI
runs the same cases every time); ``LOCATOR_SCHEMATHESIS_EXAMPLES`` raises it locally.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .manage_support import HAIDIAN, accounts, make_user, manage_demo_app

#: Cases per operation, caller and mode (valid cases; invalid ones get half).
EXAMPLES = int(os.environ.get("LOCATOR_SCHEMATHESIS_EXAMPLES", "10"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
#: Generous limits: the run must reach the operations, not the rate limiter (its 429 is
#: documented and tested in test_partners/test_openapi).
UNLIMITED = {
    "LOCATOR_RATELIMIT_KEYLESS": "1000000 per minute",
    "LOCATOR_FEEDBACK_RATE_LIMIT": "1000000 per minute",
}
#: Compressed answers are not what the document describes (it describes the content).
IDENTITY = {"Accept-Encoding": "identity"}


def _contract_app(factory: Callable[..., Flask]) -> tuple[Flask, dict[str, dict[str, str]]]:
    app = manage_demo_app(factory, **UNLIMITED)
    make_user(app, "hd", "district_manager", districts=[HAIDIAN])
    make_user(app, "root", "admin")
    roles = {"anonymous": dict(IDENTITY)}
    for name, role in (("hd", "district_manager"), ("root", "admin")):
        _, secret = accounts(app).create_token(name)
        roles[role] = {**IDENTITY, "Authorization": f"Bearer {secret}"}
    return app, roles


def _run_operation(
    app: Flask, operation: Any, headers: dict[str, str], mode: GenerationMode, facility_ids: list[str]
) -> str | None:
    """Run the cases of one operation; the failure report, or None."""
    client = app.test_client()
    examples = EXAMPLES if mode == GenerationMode.POSITIVE else max(1, EXAMPLES // 2)

    strategy = operation.as_strategy(generation_mode=mode)
    if mode == GenerationMode.POSITIVE:  # and the documented examples (real creates, edits)
        strategy = st.one_of(strategy, *operation.get_strategies_from_examples())

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(
        case=strategy,
        pick=st.integers(0, 2),
        which=st.sampled_from(facility_ids),
    )
    def run(case: Any, pick: int, which: str) -> None:
        sent = dict(headers)
        if mode == GenerationMode.POSITIVE and pick and "facility_id" in (case.path_parameters or {}):
            case.path_parameters["facility_id"] = which
            if pick == 2:  # reads too: a failed If-Match on a GET is a documented 412
                tag = client.get(f"/api/v1/facilities/{which}").headers.get("ETag")
                if tag:
                    sent["If-Match"] = tag
        case.call_and_validate(headers=sent, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:
        text = str(exc)
        if "Unable to satisfy assumptions" in text:  # nothing to make invalid (no parameters)
            return None
        return text
    return None


@pytest.mark.parametrize("role", ["anonymous", "district_manager", "admin"])
def test_every_operation_keeps_its_contract(demo_app_factory: Callable[..., Flask], role: str) -> None:
    app, roles = _contract_app(demo_app_factory)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=IDENTITY)
    facility_ids = [f.id for f in app.extensions["locator"].index.facilities()[::25]]
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    document = app.test_client().get("/api/openapi.json").get_json()
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    # Every operation, none skipped (schemathesis leaves out the document it was loaded from;
    # test_openapi.py validates that one).
    assert {op.label for op in operations} == documented - {"GET /api/openapi.json"}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            report = _run_operation(app, operation, roles[role], mode, facility_ids)
            if report:
                failures[f"{operation.label} ({mode.value})"] = report[:3000]
    assert not failures, "\n\n".join(f"== {label}\n{text}" for label, text in failures.items())


def test_a_broken_contract_is_caught(demo_app_factory: Callable[..., Flask]) -> None:
    """The run above can fail: an answer the document does not allow is reported."""
    app, roles = _contract_app(demo_app_factory)
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=IDENTITY)
    (nearest,) = [r.ok() for r in schema.get_all_operations() if r.ok().label == "GET /api/v1/nearest"]
    # Pretend the document promised at most one feature: real answers break it.
    definition = nearest.definition.raw["responses"]["200"]["content"]["application/geo+json"]
    definition["schema"] = {"type": "object", "properties": {"features": {"maxItems": 0}}}
    ids = [f.id for f in app.extensions["locator"].index.facilities()[:3]]
    report = _run_operation(app, nearest, roles["anonymous"], GenerationMode.POSITIVE, ids)
    assert report and "Response violates schema" in report, report
