"""Amazon Bedrock agent action groups: the request built from the agent's event, the envelope."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from mangum_like import Mangum

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]

BEDROCK = "aws-lambda-rust-runtime/bedrock-agent/"
FULL = BEDROCK + "example-bedrock-agent-runtime-event.json"
NO_BODY = BEDROCK + "example-bedrock-agent-runtime-event-without-request-body.json"
POWERTOOLS = "powertools/non-http/bedrockAgentEvent.json"


def agent_event(
    *,
    api_path: str = "/claims",
    method: str = "GET",
    parameters: list[dict[str, Any]] | None = None,
    content: dict[str, Any] | None = None,
) -> dict[str, Any]:
    event = load_event(POWERTOOLS, apiPath=api_path, httpMethod=method)
    if parameters is not None:
        event["parameters"] = parameters
    if content is not None:
        event["requestBody"] = {"content": content}
    return event


def param(name: str, value: str, kind: str = "string") -> dict[str, str]:
    return {"name": name, "type": kind, "value": value}


class TestRequest:
    def test_sample_event(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        make_handler(app)(load_event(FULL), Context())
        scope = app.scope
        assert (scope["method"], scope["path"], scope["query_string"]) == (
            "POST",
            "/api/path",
            b"param1=value1",
        )
        assert scope["headers"] == [
            (b"content-type", b"application/json"),
            (b"content-length", b"19"),
        ]
        assert app.bodies == [b'{"prop1": "value1"}']

    def test_path_parameters_substituted_the_rest_is_the_query(
        self, make_handler: MakeHandler
    ) -> None:
        app = Recorder()
        event = agent_event(
            api_path="/claims/{claimId}/documents/{name}",
            parameters=[
                param("claimId", "12/34"),
                param("name", "caf\u00e9 menu"),
                param("limit", "5", "integer"),
                param("q", "a&b"),
            ],
        )
        make_handler(app)(event, Context())
        scope = app.scope
        assert scope["raw_path"] == b"/claims/12%2F34/documents/caf%C3%A9%20menu"
        assert scope["path"] == "/claims/12/34/documents/caf\u00e9 menu"
        assert scope["query_string"] == b"limit=5&q=a%26b"
        assert scope["headers"] == []
        assert scope["client"] is None and scope["server"] is None
        assert app.bodies == [b""]

    def test_json_body_typed_from_the_schema(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        properties = [
            param("name", "Ann"),
            param("age", "42", "integer"),
            param("score", "4.5", "number"),
            param("active", "True", "boolean"),
            param("tags", '["a", "b"]', "array"),
            param("meta", '{"k": 1}', "object"),
            param("count", "many", "integer"),  # left as sent: the app's validation answers
            param("flag", "maybe", "boolean"),
            {"name": "raw", "type": "integer", "value": 7},  # already typed: kept
        ]
        event = agent_event(method="POST", content={"application/json": {"properties": properties}})
        make_handler(app)(event, Context())
        assert json.loads(app.bodies[0]) == {
            "name": "Ann",
            "age": 42,
            "score": 4.5,
            "active": True,
            "tags": ["a", "b"],
            "meta": {"k": 1},
            "count": "many",
            "flag": "maybe",
            "raw": 7,
        }

    def test_form_body(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        content = {"application/x-www-form-urlencoded": {"properties": [param("a", "1 2")]}}
        make_handler(app)(agent_event(method="POST", content=content), Context())
        assert app.bodies == [b"a=1+2"]
        assert (b"content-type", b"application/x-www-form-urlencoded") in app.scope["headers"]

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"apiPath": "/claims/{claimId}"}, "names {claimId} but no parameter"),
            ({"parameters": "x=1"}, "parameters must be a list"),
            ({"requestBody": {"content": {}}}, "must name a content type"),
            ({"requestBody": {"content": {"text/csv": {"properties": []}}}}, "not supported"),
            ({"httpMethod": ""}, "httpMethod"),
        ],
    )
    def test_bad_requests_answer_400_in_the_envelope(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        changes: dict[str, Any],
        message: str,
    ) -> None:
        app = Recorder()
        event = load_event(POWERTOOLS, **changes)
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = make_handler(app)(event, Context())
        assert result["response"]["httpStatusCode"] == 400
        assert message in caplog.text
        assert app.scopes == []


class TestResponse:
    def test_json_envelope(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            status=201,
            headers=[(b"content-type", b"application/json; charset=utf-8")],
            body=b'{"id": 7}',
        )
        result = make_handler(app)(load_event(NO_BODY), Context())
        assert result == {
            "messageVersion": "1.0",
            "response": {
                "actionGroup": "ActionGroup",
                "apiPath": "/api/path",
                "httpMethod": "POST",
                "httpStatusCode": 201,
                "responseBody": {"application/json": {"body": '{"id": 7}'}},
            },
        }

    def test_api_path_template_is_echoed_not_the_filled_path(
        self, make_handler: MakeHandler
    ) -> None:
        event = agent_event(api_path="/claims/{claimId}", parameters=[param("claimId", "9")])
        app = Recorder(status=404, headers=[(b"content-type", b"text/plain")], body=b"no claim")
        result = make_handler(app)(event, Context())
        assert result == {
            "messageVersion": "1.0",
            "response": {
                "actionGroup": "ClaimManagementActionGroup",
                "apiPath": "/claims/{claimId}",
                "httpMethod": "GET",
                "httpStatusCode": 404,
                "responseBody": {"text/plain": {"body": "no claim"}},
            },
        }

    def test_no_content_type_defaults_to_json(self, make_handler: MakeHandler) -> None:
        result = make_handler(Recorder(status=204, headers=[], body=b""))(agent_event(), Context())
        assert result["response"]["responseBody"] == {"application/json": {"body": ""}}
