"""Every event of the corpus through the handler, each handled as its folder says.

The expectations below are read off each event by the test, independently of the adapter's
code; ``tests/fixtures/events/SOURCES.md`` says where each event comes from. The fixture folders
hold a copy of the project's shared corpus (``../shared/events/``) plus the events generated
with ``sam local generate-event`` and the Bedrock agent samples.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from mangum_like import Mangum, UnsupportedEvent
from mangum_like._sources._alb import ALB
from mangum_like._sources._apigateway import APIGatewayV1, APIGatewayV2
from mangum_like._sources._bedrock import BedrockAgent
from mangum_like._sources._edge import LambdaEdge
from mangum_like._sources._lattice import LatticeV1, LatticeV2

from .helpers import EVENTS, Context, Recorder, event_names, load_event

V1_KINDS = ("apigw-rest-v1",)
V2_KINDS = ("apigw-http-v2", "function-url")
ALB_KINDS = ("alb-single", "alb-multi")
HTTP_EVENTS = event_names(*V1_KINDS, *V2_KINDS, *ALB_KINDS)

MakeHandler = Callable[..., Mangum]


def kind_of(name: str) -> str:
    return name.split("/")[1]


def expected_body(event: dict[str, Any]) -> bytes | None:
    """The request body the event carries; None when it is flagged base64 but is not."""
    body = event.get("body") or ""
    if event.get("isBase64Encoded") and body:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error:
            return None
    return str(body).encode("utf-8")


def text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def expected_headers(event: dict[str, Any]) -> list[tuple[str, str]]:
    """Every (lower-cased name, value) pair the event carries, each repeat on its own."""
    pairs: list[tuple[str, str]] = []
    multi = event.get("multiValueHeaders") or {}
    for name, values in multi.items():
        pairs.extend((name.lower(), text(value)) for value in values or [])
    seen = {name.lower() for name in multi}
    for name, value in (event.get("headers") or {}).items():
        if name.lower() not in seen:
            pairs.append((name.lower(), text(value)))
    if event.get("cookies"):
        pairs = [pair for pair in pairs if pair[0] != "cookie"]
        pairs.append(("cookie", "; ".join(event["cookies"])))
    return pairs


def header(pairs: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in pairs if key == name]
    return values[-1] if values else None


def event_path(event: dict[str, Any], kind: str) -> str:
    raw: str = event["rawPath"] if kind in V2_KINDS else event["path"]
    return raw if raw.startswith("/") else "/" + raw


def app_path(event: dict[str, Any], kind: str) -> str:
    """The path the app must see: an HTTP API event's path as it stands (the service decoded
    it: payload 2.0 from a domain that is not a function URL's, payload 1.0 declaring its
    version), any other's decoded once."""
    raw = event_path(event, kind)
    if kind in V2_KINDS:
        domain = str((event.get("requestContext") or {}).get("domainName") or "")
        decoded_by_service = ".lambda-url." not in domain
    else:
        decoded_by_service = kind in V1_KINDS and event.get("version") == "1.0"
    return raw if decoded_by_service else unquote(raw)


def expected_method(event: dict[str, Any], kind: str) -> str:
    if kind in V2_KINDS:
        method: str = event["requestContext"]["http"]["method"]
        return method
    method = event["httpMethod"]
    return method


@pytest.mark.parametrize("name", HTTP_EVENTS)
def test_http_event(name: str, make_handler: MakeHandler) -> None:
    kind = kind_of(name)
    event = load_event(name)
    app = Recorder(
        headers=[
            (b"content-type", b"text/plain"),
            (b"set-cookie", b"a=1"),
            (b"set-cookie", b"b=2"),
        ],
        lifespan_state={"ready": True},
    )
    result = make_handler(app)(event, Context())

    body = expected_body(event)
    if body is None:
        # Flagged base64 but not base64: a client error, answered without calling the app.
        assert result["statusCode"] == 400
        assert app.scopes == []
        return
    assert result["statusCode"] == 200, result
    scope = app.scope
    request_context = event.get("requestContext") or {}

    assert scope["type"] == "http"
    assert scope["method"] == expected_method(event, kind).upper()
    assert app.bodies == [body]

    # Paths: path is raw_path decoded once, ends with the event's path (decoded once in all,
    # by the service or the adapter), starts with root_path.
    path = app_path(event, kind)
    assert scope["path"] == unquote(scope["raw_path"].decode("ascii"))
    assert scope["path"].endswith(path)
    assert scope["path"].startswith(scope["root_path"])
    if scope["root_path"]:
        stage = request_context.get("stage")
        assert scope["root_path"] == f"/{stage}"
        assert scope["path"] == scope["root_path"] + path or path.startswith(
            scope["root_path"] + "/"
        )
    else:
        assert scope["path"] == path

    # Query strings: byte-exact where the event has them raw, every repeated key kept otherwise.
    if kind in V2_KINDS:
        assert scope["query_string"] == event.get("rawQueryString", "").encode()
    elif kind in ALB_KINDS:
        params = event.get("multiValueQueryStringParameters") or {
            key: [value] for key, value in (event.get("queryStringParameters") or {}).items()
        }
        pairs = [f"{key}={value}" for key, values in params.items() for value in values]
        assert scope["query_string"].decode() == "&".join(pairs)
    else:
        params = event.get("multiValueQueryStringParameters") or {
            key: [value] for key, value in (event.get("queryStringParameters") or {}).items()
        }
        expected = [(key, text(value)) for key, values in params.items() for value in values]
        assert parse_qsl(scope["query_string"].decode(), keep_blank_values=True) == expected

    # Headers: every value of every header, names lower-cased.
    got = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in scope["headers"]]
    want = expected_headers(event)
    assert sorted(got) == sorted(want)

    # Client, server, scheme, HTTP version.
    if kind in V2_KINDS:
        client_ip = request_context["http"].get("sourceIp")
        protocol = request_context["http"].get("protocol")
    elif kind in ALB_KINDS:
        forwarded = header(want, "x-forwarded-for")
        client_ip = forwarded.split(",")[-1].strip() if forwarded else None
        protocol = None
    else:
        client_ip = (request_context.get("identity") or {}).get("sourceIp")
        protocol = request_context.get("protocol")
    assert scope["client"] == ((client_ip, 0) if client_ip else None)
    assert scope["scheme"] == (header(want, "x-forwarded-proto") or "https")
    host = header(want, "host") or request_context.get("domainName")
    if host:
        assert scope["server"] is not None
        assert scope["server"][0] == host.split(":")[0]
    else:
        assert scope["server"] is None
    assert scope["http_version"] == {"HTTP/2.0": "2", "HTTP/1.0": "1.0"}.get(protocol, "1.1")

    assert scope["state"] == {"ready": True}
    assert scope["aws.event"] is event
    assert isinstance(scope["aws.context"], Context)

    # The result shape each source expects, every cookie kept.
    if kind in V2_KINDS:
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "cookies": ["a=1", "b=2"],
            "body": "ok",
            "isBase64Encoded": False,
        }
    elif kind == "alb-multi":
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "multiValueHeaders": {"content-type": ["text/plain"], "set-cookie": ["a=1", "b=2"]},
            "body": "ok",
            "isBase64Encoded": False,
        }
    elif kind == "alb-single":
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {"content-type": "text/plain", "set-cookie": "a=1", "Set-cookie": "b=2"},
            "body": "ok",
            "isBase64Encoded": False,
        }
    else:
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "ok",
            "isBase64Encoded": False,
        }


# What each fixture folder holds, by payload shape (tests/fixtures/events/SOURCES.md): the
# source that must serve its events, or NOT_HTTP for events that are passed through or rejected.
NOT_HTTP = "not HTTP"
KINDS: dict[str, type | str] = {
    "apigw-rest-v1": APIGatewayV1,
    "apigw-http-v2": APIGatewayV2,
    "function-url": APIGatewayV2,
    "alb-single": ALB,
    "alb-multi": ALB,
    "lambda-edge": LambdaEdge,
    "vpc-lattice-v1": LatticeV1,
    "vpc-lattice-v2": LatticeV2,
    "bedrock-agent": BedrockAgent,
    "lambda-edge-response": NOT_HTTP,
    "websocket": NOT_HTTP,
    "non-http": NOT_HTTP,
}
# Files whose outcome differs from their folder's, and why.
EXCEPTIONS: dict[str, tuple[type | str, str]] = {
    "powertools/non-http/bedrockAgentEvent.json": (
        BedrockAgent,
        "filed as a lookalike of REST events; Bedrock agent action groups are a source",
    ),
    "aws-lambda-dotnet/lambda-edge/cloudfront-access-request-in-response.json": (
        NOT_HTTP,
        "a response trigger (cf.response beside cf.request): nothing for the app to answer",
    ),
    "sam-cli/lambda-edge/CloudFrontModifyResponseHeader.json": (
        NOT_HTTP,
        "an origin-response trigger (cf.response only)",
    ),
}
# The keys of the result each source answers.
RESULT_KEYS: dict[type, set[str]] = {
    APIGatewayV1: {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"},
    APIGatewayV2: {"statusCode", "headers", "cookies", "body", "isBase64Encoded"},
    LambdaEdge: {"status", "statusDescription", "headers", "body", "bodyEncoding"},
    LatticeV1: {"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"},
    LatticeV2: {"statusCode", "statusDescription", "headers", "body", "isBase64Encoded"},
    BedrockAgent: {"messageVersion", "response"},
}
ALL_EVENTS = sorted(path.relative_to(EVENTS).as_posix() for path in EVENTS.rglob("*.json"))
SHARED_EVENTS = Path(__file__).resolve().parents[1].parent / "shared" / "events"


def expected_outcome(name: str) -> type | str:
    if name in EXCEPTIONS:
        return EXCEPTIONS[name][0]
    return KINDS[kind_of(name)]


def test_every_fixture_folder_is_classified() -> None:
    kinds = {kind_of(name) for name in ALL_EVENTS}
    assert sorted(kinds - KINDS.keys()) == [], "classify these folders in KINDS"
    assert sorted(set(EXCEPTIONS) - set(ALL_EVENTS)) == []  # no stale exception


def test_every_fixture_is_attributed() -> None:
    """SOURCES.md names every fixture file: where it comes from and under which licence."""
    sources = (EVENTS / "SOURCES.md").read_text(encoding="utf-8")
    assert [name for name in ALL_EVENTS if f"`{name}`" not in sources] == []


def test_the_shared_corpus_is_copied_whole() -> None:
    """Where the project's shared event corpus is at hand, every file of it is a fixture."""
    shared = (
        sorted(path.relative_to(SHARED_EVENTS).as_posix() for path in SHARED_EVENTS.rglob("*"))
        if SHARED_EVENTS.is_dir()
        else []
    )
    missing = [
        name
        for name in shared
        if (SHARED_EVENTS / name).is_file()
        and (
            not (EVENTS / name).is_file()
            # SOURCES.md grows by what was added here; every other file is a byte-exact copy.
            or not (EVENTS / name).read_bytes().startswith((SHARED_EVENTS / name).read_bytes())
            or (
                name != "SOURCES.md"
                and (EVENTS / name).stat().st_size != (SHARED_EVENTS / name).stat().st_size
            )
        )
    ]
    assert missing == []


@pytest.mark.parametrize("name", ALL_EVENTS)
def test_corpus_event_outcome(name: str, make_handler: MakeHandler) -> None:
    """Every event is served by the source its folder names, or passed through, or rejected."""
    expected = expected_outcome(name)
    event = load_event(name)
    app = Recorder(headers=[(b"content-type", b"application/json")], body=b'{"ok": true}')
    handler = make_handler(app)
    if expected == NOT_HTTP:
        with pytest.raises(UnsupportedEvent) as info:
            handler(event, Context())
        assert "Supported sources" in str(info.value)
        assert sorted(event)[0] in str(info.value)
        # An event of a WebSocket API (CONNECT, MESSAGE, DISCONNECT) is named as one.
        context = event.get("requestContext") if isinstance(event, dict) else None
        is_websocket = isinstance(context, dict) and context.get("eventType") in (
            "CONNECT",
            "MESSAGE",
            "DISCONNECT",
        )
        assert ("WebSocket API" in str(info.value)) == is_websocket
        assert app.scopes == []
        # With pass_through_path the same event reaches the app as JSON, and its JSON answer
        # is the Lambda result.
        passing = make_handler(app, pass_through_path="/events")
        assert passing(event, Context()) == {"ok": True}
        assert (app.scope["method"], app.scope["path"]) == ("POST", "/events")
        assert json.loads(app.bodies[-1]) == event
        return
    assert isinstance(expected, type)
    assert type(handler._sources.detect(event, Context())) is expected
    result = handler(event, Context())
    if expected is ALB:
        assert set(result) == {
            "statusCode",
            "statusDescription",
            "multiValueHeaders" if "multiValueHeaders" in event else "headers",
            "body",
            "isBase64Encoded",
        }
    elif expected is APIGatewayV2:
        assert set(result) == RESULT_KEYS[expected] - {"cookies"}  # no cookies: no key
    else:
        assert set(result) == RESULT_KEYS[expected]
    status = result.get("statusCode") or result.get("status") or result["response"]
    if len(app.scopes) == 0:
        # A body flagged base64 that is not: answered 400 without calling the app.
        assert expected_body(event) is None
        assert str(status) == "400"
    else:
        assert app.scope["aws.event"] is event
        assert status in (200, "200") or status["httpStatusCode"] == 200


SAM_GENERATED = [
    name
    for name in ALL_EVENTS
    if name.startswith("sam-cli-generated/") and expected_outcome(name) != NOT_HTTP
]


@pytest.mark.parametrize("name", SAM_GENERATED)
def test_sam_cli_generated_events_are_served(name: str, make_handler: MakeHandler) -> None:
    """What `sam local generate-event` produces for API Gateway, ALB and CloudFront works."""
    app = Recorder()
    result = make_handler(app)(load_event(name), Context())
    assert str(result.get("statusCode") or result.get("status")) == "200"
    assert result["body"] == "ok"
    assert len(app.scopes) == 1
