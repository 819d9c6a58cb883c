"""Lambda@Edge viewer- and origin-request triggers: request mapping and the generated response."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import Any

import pytest

from mangum_like import Mangum, UnsupportedEvent

from .helpers import Context, Recorder, event_names, load_event

MakeHandler = Callable[..., Mangum]

SIMPLE = "aws-lambda-dotnet/lambda-edge/cloudfront-simple-remote-call.json"
EDGE_REQUESTS = [
    name
    for name in event_names("lambda-edge")
    if "response" not in load_event(name)["Records"][0]["cf"]
]


def edge_event(
    *,
    uri: str = "/test",
    method: str = "GET",
    querystring: str | None = None,
    headers: dict[str, list[dict[str, str]]] | None = None,
    body: dict[str, Any] | None = None,
    event_type: str | None = None,
) -> dict[str, Any]:
    """The CloudFront sample event, varied: fields left as None keep (or lack) the sample's."""
    event = load_event(SIMPLE)
    cf = event["Records"][0]["cf"]
    request = cf["request"]
    request["uri"] = uri
    request["method"] = method
    if querystring is not None:
        request["querystring"] = querystring
    if headers is not None:
        request["headers"] = headers
    if body is not None:
        request["body"] = body
    if event_type is not None:
        cf["config"]["eventType"] = event_type
        cf["config"]["distributionDomainName"] = "d111111abcdef8.cloudfront.net"
    return event


class TestRequest:
    @pytest.mark.parametrize("name", EDGE_REQUESTS)
    def test_corpus_requests(self, make_handler: MakeHandler, name: str) -> None:
        app = Recorder()
        event = load_event(name)
        result = make_handler(app)(event, Context())
        assert result["status"] == "200"
        request = event["Records"][0]["cf"]["request"]
        scope = app.scope
        assert (scope["method"], scope["path"]) == (request["method"], request["uri"])
        assert scope["client"] == ((request["clientIp"], 0) if "clientIp" in request else None)
        assert scope["query_string"] == request.get("querystring", "").encode()
        assert scope["headers"] == [
            (name.encode(), entry["value"].encode())
            for name, entries in request["headers"].items()
            for entry in entries
        ]
        assert app.bodies == [b""]

    def test_uri_querystring_and_repeated_headers(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        event = edge_event(
            uri="/caf%C3%A9/a%2Fb",
            querystring="a=1&a=2&q=x%20y",
            headers={
                "host": [{"key": "Host", "value": "example.org"}],
                "accept": [
                    {"key": "Accept", "value": "text/html"},
                    {"key": "accept", "value": "application/json"},
                ],
                "cloudfront-forwarded-proto": [
                    {"key": "CloudFront-Forwarded-Proto", "value": "http"}
                ],
            },
            event_type="origin-request",
        )
        make_handler(app)(event, Context())
        scope = app.scope
        assert (scope["path"], scope["raw_path"]) == ("/café/a/b", b"/caf%C3%A9/a%2Fb")
        assert scope["query_string"] == b"a=1&a=2&q=x%20y"
        assert scope["headers"] == [
            (b"host", b"example.org"),
            (b"accept", b"text/html"),
            (b"accept", b"application/json"),
            (b"cloudfront-forwarded-proto", b"http"),
        ]
        assert (scope["scheme"], scope["server"]) == ("http", ("example.org", 80))
        assert scope["http_version"] == "1.1"

    def test_non_latin1_and_non_string_header_values(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        headers: Any = {"x-snow": [{"key": "X-Snow", "value": "\u2603"}], "x-n": [{"value": 5}]}
        make_handler(app)(edge_event(headers=headers), Context())
        assert app.scope["headers"] == [(b"x-snow", "\u2603".encode()), (b"x-n", b"5")]

    def test_server_falls_back_to_the_distribution_domain(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        make_handler(app)(edge_event(headers={}, event_type="viewer-request"), Context())
        assert app.scope["server"] == ("d111111abcdef8.cloudfront.net", 443)
        assert app.scope["scheme"] == "https"

    @pytest.mark.parametrize(
        ("body", "expected"),
        [
            ({"action": "read-only", "data": "aGk=", "encoding": "base64"}, b"hi"),
            ({"action": "read-only", "data": "h\u00e9", "encoding": "text"}, "h\u00e9".encode()),
            ({"action": "read-only", "data": "", "encoding": "base64"}, b""),
            ({"data": "AP8=", "inputTruncated": False}, b"\x00\xff"),
        ],
    )
    def test_include_body(
        self, make_handler: MakeHandler, body: dict[str, Any], expected: bytes
    ) -> None:
        app = Recorder()
        make_handler(app)(edge_event(method="POST", body=body), Context())
        assert app.bodies == [expected]

    @pytest.mark.parametrize(
        ("request_changes", "message"),
        [
            ({"body": {"data": "not base64!", "encoding": "base64"}}, "not valid base64"),
            ({"body": {"data": "aGk=", "inputTruncated": True}}, "truncated"),
            ({"body": "raw"}, "must be an object"),
            ({"body": {"data": 5}}, "must be a string"),
            ({"uri": ""}, "cf.request.uri"),
            ({"method": None}, "cf.request.method"),
            ({"headers": {"x": "not a list"}}, "Malformed"),
        ],
    )
    def test_bad_requests_answer_400(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        request_changes: dict[str, Any],
        message: str,
    ) -> None:
        app = Recorder()
        event = edge_event()
        event["Records"][0]["cf"]["request"].update(request_changes)
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = make_handler(app)(event, Context())
        assert result["status"] == "400"
        assert message in caplog.text
        assert app.scopes == []

    def test_base_path_is_root_path(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        make_handler(app, api_gateway_base_path="/api")(edge_event(uri="/api/x"), Context())
        assert (app.scope["root_path"], app.scope["path"]) == ("/api", "/api/x")


class TestResponse:
    def test_text_body_every_header_value_kept(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            status=201,
            headers=[
                (b"Content-Type", b"text/html; charset=utf-8"),
                (b"content-length", b"9"),
                (b"set-cookie", b"a=1; Path=/"),
                (b"Set-Cookie", b"b=2"),
                (b"x-amz-meta-owner", b"me"),
                (b"connection", b"keep-alive"),
                (b"X-Amz-Cf-Pop", b"IAD89"),
            ],
            body="<p>\u00e9</p>".encode(),
        )
        result = make_handler(app)(edge_event(), Context())
        assert result == {
            "status": "201",
            "statusDescription": "Created",
            "headers": {
                "content-type": [{"key": "Content-Type", "value": "text/html; charset=utf-8"}],
                "set-cookie": [
                    {"key": "Set-Cookie", "value": "a=1; Path=/"},
                    {"key": "Set-Cookie", "value": "b=2"},
                ],
                "x-amz-meta-owner": [{"key": "X-Amz-Meta-Owner", "value": "me"}],
            },
            "body": "<p>\u00e9</p>",
            "bodyEncoding": "text",
        }

    def test_binary_body_is_base64(self, make_handler: MakeHandler) -> None:
        app = Recorder(headers=[(b"content-type", b"image/png")], body=b"\x89PNG\x00")
        result = make_handler(app)(edge_event(), Context())
        assert result == {
            "status": "200",
            "statusDescription": "OK",
            "headers": {"content-type": [{"key": "Content-Type", "value": "image/png"}]},
            "body": base64.b64encode(b"\x89PNG\x00").decode(),
            "bodyEncoding": "base64",
        }

    @pytest.mark.parametrize(("method", "status"), [("HEAD", 200), ("GET", 204), ("GET", 304)])
    def test_no_body_field_without_a_body(
        self, make_handler: MakeHandler, method: str, status: int
    ) -> None:
        app = Recorder(status=status, headers=[], body=b"content")
        result = make_handler(app)(edge_event(method=method), Context())
        assert result == {
            "status": str(status),
            "statusDescription": {200: "OK", 204: "No Content", 304: "Not Modified"}[status],
            "headers": {},
        }

    @pytest.mark.parametrize(
        ("event_type", "size", "status"),
        [
            ("viewer-request", 40 * 1024 - 200, "200"),
            ("viewer-request", 40 * 1024, "502"),
            (None, 40 * 1024, "502"),  # no eventType: the stricter viewer-request limit
            ("origin-request", 40 * 1024, "200"),
            ("origin-request", 1024 * 1024 - 200, "200"),
            ("origin-request", 1024 * 1024, "502"),
        ],
    )
    def test_generated_response_size_limit_per_trigger(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        event_type: str | None,
        size: int,
        status: str,
    ) -> None:
        app = Recorder(headers=[(b"content-type", b"text/plain")], body=b"x" * size)
        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            result = make_handler(app)(edge_event(event_type=event_type), Context())
        assert result["status"] == status
        if status == "502":
            trigger = event_type or "viewer-request"
            assert result["body"] == (
                f"Bad Gateway: response too large for Lambda@Edge ({trigger} trigger)"
            )
            assert f"limit of Lambda@Edge ({trigger} trigger)" in caplog.text
        else:
            assert result["body"] == "x" * size
            assert caplog.text == ""

    def test_response_triggers_are_not_requests(self, make_handler: MakeHandler) -> None:
        for name in ("sam-cli/lambda-edge/CloudFrontModifyResponseHeader.json",):
            with pytest.raises(UnsupportedEvent, match="Records"):
                make_handler(Recorder())(load_event(name), Context())

    @pytest.mark.parametrize("records", [[], [1], [{"cf": None}], [{"cf": {"request": "x"}}], {}])
    def test_other_records_are_not_edge(self, make_handler: MakeHandler, records: Any) -> None:
        with pytest.raises(UnsupportedEvent):
            make_handler(Recorder())({"Records": records}, Context())
