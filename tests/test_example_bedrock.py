"""The Bedrock agent example: the FastAPI app's OpenAPI document describes what the agent calls."""

from __future__ import annotations

import json
from typing import Any

import pytest

from examples.bedrock_agent.app import app, handler

from .helpers import Context, load_event


def agent_event(
    api_path: str,
    method: str,
    parameters: list[dict[str, str]] | None = None,
    properties: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    """An agent event for the example's action group, built on the Bedrock sample event."""
    event = load_event(
        "powertools/non-http/bedrockAgentEvent.json", apiPath=api_path, httpMethod=method
    )
    if parameters is not None:
        event["parameters"] = parameters
    if properties is not None:
        event["requestBody"] = {"content": {"application/json": {"properties": properties}}}
    return event


def answer(result: dict[str, Any]) -> tuple[int, Any]:
    response = result["response"]
    body = response["responseBody"]["application/json"]["body"]
    return response["httpStatusCode"], json.loads(body)


def test_every_operation_has_what_the_agent_reads() -> None:
    paths = app.openapi()["paths"]
    operations = [(path, method, op) for path, ops in paths.items() for method, op in ops.items()]
    assert {(path, method) for path, method, _ in operations} == {
        ("/claims", "get"),
        ("/claims/{claimId}/identify-missing-documents", "get"),
        ("/send-reminders", "post"),
    }
    for _, _, operation in operations:
        assert operation["description"] and operation["operationId"]


def test_the_sample_event_lists_open_claims() -> None:
    result = handler(load_event("powertools/non-http/bedrockAgentEvent.json"), Context())
    assert result["messageVersion"] == "1.0"
    assert result["response"]["apiPath"] == "/claims"
    assert answer(result) == (
        200,
        [
            {"claimId": "claim-006", "policyHolderId": "A945684", "status": "open"},
            {"claimId": "claim-857", "policyHolderId": "A645987", "status": "open"},
        ],
    )


def test_query_parameter() -> None:
    event = agent_event(
        "/claims", "GET", [{"name": "policyHolderId", "type": "string", "value": "A645987"}]
    )
    assert answer(handler(event, Context()))[1] == [
        {"claimId": "claim-857", "policyHolderId": "A645987", "status": "open"}
    ]


@pytest.mark.parametrize(
    ("claim", "expected"),
    [
        ("claim-006", (200, {"pendingDocuments": ["DriverLicense", "VehicleRegistration"]})),
        ("claim-999", (404, {"detail": "no open claim claim-999"})),
    ],
)
def test_path_parameter(claim: str, expected: tuple[int, Any]) -> None:
    event = agent_event(
        "/claims/{claimId}/identify-missing-documents",
        "GET",
        [{"name": "claimId", "type": "string", "value": claim}],
    )
    result = handler(event, Context())
    assert result["response"]["apiPath"] == "/claims/{claimId}/identify-missing-documents"
    assert answer(result) == expected


def test_request_body() -> None:
    event = agent_event(
        "/send-reminders",
        "POST",
        properties=[
            {"name": "claimId", "type": "string", "value": "claim-006"},
            {"name": "pendingDocuments", "type": "array", "value": '["DriverLicense"]'},
        ],
    )
    assert answer(handler(event, Context())) == (
        200,
        {"sendReminderTrackingId": "50e8400-e29b-41d4-a716", "sendReminderStatus": "InProgress"},
    )


def test_validation_errors_reach_the_agent() -> None:
    event = agent_event(
        "/send-reminders",
        "POST",
        properties=[{"name": "claimId", "type": "string", "value": "claim-006"}],
    )
    status, body = answer(handler(event, Context()))
    assert status == 422
    assert body["detail"][0]["loc"] == ["body", "pendingDocuments"]
