"""Generated requests and responses: every path, header value, cookie and body byte survives.

Events are made from real fixtures of each source, varied where a client's request varies
(path, headers, body); the app echoes what it got and answers generated headers and bodies.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, unquote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

from .helpers import Context, load_event

HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
HTTP_API_V1 = "powertools/apigw-rest-v1/apiGatewayProxyEvent.json"
REST = "aws-lambda-go/apigw-rest-v1/apigw-request.json"
FUNCTION_URL = "powertools/function-url/lambdaFunctionUrlEvent.json"
ALB_SINGLE = "aws-lambda-rust-runtime/alb-single/alb_request.json"
ALB_MULTI = "aws-lambda-rust-runtime/alb-multi/alb_multi_value_request.json"
EDGE = "aws-lambda-dotnet/lambda-edge/cloudfront-ab-test.json"

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Echo:
    """Records the request; answers the response it is given."""

    def __init__(self) -> None:
        self.scope: Scope = {}
        self.body = b""
        self.status = 200
        self.headers: list[tuple[bytes, bytes]] = []
        self.response = b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        message = await receive()
        self.scope, self.body = scope, message.get("body", b"")
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.response})


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[Mangum, Echo]]:
    app = Echo()
    with Mangum(app, lifespan="off") as handler:
        yield handler, app


# A client's path: segments of any text, percent-encoded as a client would, with some of the
# escapes a path-confusion attack uses (%2F, %25, %3F, %252e) mixed in as literal text.
segment = st.one_of(
    st.text(min_size=1, max_size=8).map(lambda text: quote(text, safe="")),
    st.sampled_from(["%2F", "%25", "%2525", "%3F", "%252e%252e", "..", "a+b", "~x", "@:"]),
)
client_paths = st.lists(segment, min_size=1, max_size=5).map(lambda parts: "/" + "/".join(parts))


def event_for(source: str, path: str) -> dict[str, Any]:
    """The event the source makes for a client's ``path`` (HTTP APIs decode it first)."""
    if source == "http-api-2.0":
        event = load_event(HTTP_API, rawPath=unquote(path))
        event["requestContext"]["stage"] = "$default"
        return event
    if source == "http-api-1.0":
        return load_event(HTTP_API_V1, path=unquote(path))
    if source == "function-url":
        return load_event(FUNCTION_URL, rawPath=path)
    if source == "alb":
        return load_event(ALB_SINGLE, path=path)
    if source == "edge":  # CloudFront hands over the URI as the viewer sent it
        event = load_event(EDGE)
        event["Records"][0]["cf"]["request"]["uri"] = path
        return event
    event = load_event(REST, path=path)
    event["requestContext"]["path"] = path  # no stage in front: root_path stays empty
    return event


SOURCES = ["http-api-2.0", "http-api-1.0", "function-url", "alb", "rest", "edge"]


@pytest.mark.parametrize("source", SOURCES)
@SETTINGS
@given(path=client_paths)
def test_the_path_is_decoded_exactly_once(
    source: str, path: str, echo: tuple[Mangum, Echo]
) -> None:
    handler, app = echo
    app.headers, app.response = [], b""
    handler(event_for(source, path), Context())
    assert app.scope["path"] == unquote(path)
    assert unquote(app.scope["raw_path"].decode("ascii")) == app.scope["path"]
    if source in ("function-url", "alb", "rest", "edge") and path.isascii():
        assert app.scope["raw_path"] == path.encode()  # what the client sent


header_names = st.from_regex(r"\Ax-[a-z0-9]{1,6}\Z")
# Visible Latin-1 text without commas (a joined list splits back on ", ") or edge spaces.
header_values = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0xFF, exclude_characters=",\x7f"),
    min_size=1,
    max_size=12,
)
cookies = st.lists(
    st.tuples(st.from_regex(r"\A[a-z]{1,6}\Z"), st.from_regex(r"\A[A-Za-z0-9]{0,8}\Z")).map(
        lambda pair: f"{pair[0]}={pair[1]}; Path=/"
    ),
    max_size=5,
)
responses = st.tuples(
    st.lists(st.tuples(header_names, header_values), max_size=8),
    cookies,
    st.binary(max_size=512),
    st.sampled_from([b"application/octet-stream", b"text/plain; charset=utf-8", b"image/png"]),
)


def values_by_name(result: dict[str, Any], source: str) -> dict[str, list[str]]:
    """Every response header value of the result, by lower-cased name, cookies included."""
    found: dict[str, list[str]] = {}
    if source in ("rest", "alb-multi"):
        for name, values in result.get("multiValueHeaders", {}).items():
            found.setdefault(name.lower(), []).extend(values)
        for name, value in result.get("headers", {}).items():
            found.setdefault(name.lower(), []).append(value)
        return found
    for name, value in result["headers"].items():
        if name.lower() == "set-cookie":  # ALB single-value: one casing per cookie
            found.setdefault("set-cookie", []).append(value)
        else:
            separator = ", " if source == "alb" else ","
            found.setdefault(name.lower(), []).extend(value.split(separator))
    found.setdefault("set-cookie", []).extend(result.get("cookies", []))
    return found


RESPONSE_SOURCES = {
    "http-api-2.0": HTTP_API,
    "rest": REST,
    "alb": ALB_SINGLE,
    "alb-multi": ALB_MULTI,
}


@pytest.mark.parametrize("source", list(RESPONSE_SOURCES))
@SETTINGS
@given(response=responses, request_body=st.binary(max_size=512))
def test_every_header_cookie_and_byte_survives(
    source: str,
    response: tuple[list[tuple[str, str]], list[str], bytes, bytes],
    request_body: bytes,
    echo: tuple[Mangum, Echo],
) -> None:
    handler, app = echo
    headers, set_cookies, body, content_type = response
    if source == "http-api-2.0":
        # Payload 2.0 joins repeats with "," (no space), so a value may not start with one.
        headers = [(name, value.strip()) for name, value in headers if value.strip()]
    app.headers = [(b"content-type", content_type)]
    app.headers += [(name.encode(), value.encode("latin-1")) for name, value in headers]
    app.headers += [(b"set-cookie", cookie.encode()) for cookie in set_cookies]
    app.response = body
    event = load_event(RESPONSE_SOURCES[source])
    event["body"] = base64.b64encode(request_body).decode()
    event["isBase64Encoded"] = True
    result = handler(event, Context())
    json.dumps(result)  # serialisable as Lambda will

    assert app.body == request_body
    expected: dict[str, list[str]] = {"content-type": [content_type.decode()]}
    for name, value in headers:
        expected.setdefault(name, []).append(value)
    if set_cookies:
        expected["set-cookie"] = list(set_cookies)
    found = values_by_name(result, source)
    if source == "alb":  # ALB's single-value casings carry no order: compare as multisets
        found["set-cookie"] = sorted(found.get("set-cookie", []))
        expected["set-cookie"] = sorted(expected.get("set-cookie", []))
    found = {name: values for name, values in found.items() if values}
    expected = {name: values for name, values in expected.items() if values}
    assert found == expected
    text = result["body"]
    received = base64.b64decode(text) if result["isBase64Encoded"] else text.encode()
    assert received == body
