"""Every HTTP event of the corpus through the handler: the scope agrees with the event itself.

The expectations below are read off each event by the test, independently of the adapter's
code; ``tests/fixtures/events/SOURCES.md`` says where each event comes from.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import pytest

from mangum_like import Mangum, UnsupportedEvent

from .helpers import Context, Recorder, event_names, load_event

V1_KINDS = ("apigw-rest-v1",)
V2_KINDS = ("apigw-http-v2", "function-url")
ALB_KINDS = ("alb-single", "alb-multi")
HTTP_EVENTS = event_names(*V1_KINDS, *V2_KINDS, *ALB_KINDS)
OTHER_EVENTS = event_names("non-http", "websocket")

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

    # Paths: path is raw_path decoded once, ends with the event's path, starts with root_path.
    raw = event_path(event, kind)
    assert scope["path"] == unquote(scope["raw_path"].decode("ascii"))
    assert scope["path"].endswith(unquote(raw))
    assert scope["path"].startswith(scope["root_path"])
    if scope["root_path"]:
        stage = request_context.get("stage")
        assert scope["root_path"] == f"/{stage}"
        assert scope["path"] == scope["root_path"] + unquote(raw) or unquote(raw).startswith(
            scope["root_path"] + "/"
        )
    else:
        assert scope["path"] == unquote(raw)

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


@pytest.mark.parametrize("name", OTHER_EVENTS)
def test_non_http_event_is_unsupported(name: str, make_handler: MakeHandler) -> None:
    """Authorizer, WebSocket, Bedrock agent and other lookalikes are never taken for HTTP."""
    app = Recorder()
    handler = make_handler(app)
    event = load_event(name)
    with pytest.raises(UnsupportedEvent) as info:
        handler(event, Context())
    message = str(info.value)
    assert "Supported sources" in message
    if isinstance(event, dict) and event:
        assert sorted(event)[0] in message
    assert app.scopes == []
    # The environment survives: the next HTTP event is served on the same lifespan.
    good = load_event("powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json")
    assert handler(good, Context())["statusCode"] == 200
