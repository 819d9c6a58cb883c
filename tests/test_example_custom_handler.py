"""The custom handler example: a Mangum-protocol class serves direct invocations."""

from __future__ import annotations

from examples.custom_handler.app import handler

from .helpers import Context, load_event


def test_direct_invocations() -> None:
    assert handler({"action": "GET /items/7?verbose=true"}, Context()) == {
        "status": 200,
        "result": {"id": 7, "name": "item 7", "verbose": True},
    }
    assert handler({"action": "post /items", "payload": {"name": "pen"}}, Context()) == {
        "status": 200,
        "result": {"created": {"name": "pen"}},
    }
    result = handler({"action": "GET /items/x"}, Context())
    assert result["status"] == 422


def test_http_events_still_served_by_the_built_in_sources() -> None:
    event = load_event("powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json")
    event["rawPath"] = "/items/3"
    result = handler(event, Context())
    assert (result["statusCode"], result["body"]) == (200, '{"id":3,"name":"item 3"}')
