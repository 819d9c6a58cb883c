"""One rule at a time: request and result mapping for each event source."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from typing import Any

import pytest

import mangum_like._invocation
from mangum_like import Mangum, UnsupportedEvent
from mangum_like._types import Scope

from .helpers import Context, Recorder, load_event

MakeHandler = Callable[..., Mangum]

REST = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"  # stage Prod
REST_REF = "powertools/apigw-rest-v1/apiGatewayProxyEvent.json"  # multi-value everything
HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
FUNCTION_URL = (
    "aws-lambda-go/function-url/function-url-request-with-headers-and-cookies-and-text-body.json"
)
ALB_SINGLE = "aws-lambda-rust-runtime/alb-single/alb_request.json"
ALB_MULTI = "aws-lambda-rust-runtime/alb-multi/alb_multi_value_request.json"


def serve(
    make_handler: MakeHandler, event: dict[str, Any], app: Recorder | None = None, **options: Any
) -> tuple[Scope, dict[str, Any]]:
    app = app or Recorder()
    result = make_handler(app, **options)(event, Context())
    assert result["statusCode"] == 200, result
    return app.scope, result


def rest(
    path: str, context_path: str | None = None, stage: str = "Prod", **changes: Any
) -> dict[str, Any]:
    event = load_event(REST, path=path, **changes)
    event["requestContext"]["stage"] = stage
    event["requestContext"]["path"] = context_path if context_path is not None else path
    return event


def http_api(raw_path: str, stage: str = "$default", **changes: Any) -> dict[str, Any]:
    event = load_event(HTTP_API, rawPath=raw_path, **changes)
    event["requestContext"]["stage"] = stage
    return event


class TestAPIGatewayV1:
    def test_stage_on_execute_api_endpoint_becomes_root_path(
        self, make_handler: MakeHandler
    ) -> None:
        scope, _ = serve(make_handler, rest("/todos", "/Prod/todos"))
        assert (scope["root_path"], scope["path"], scope["raw_path"]) == (
            "/Prod",
            "/Prod/todos",
            b"/Prod/todos",
        )

    def test_route_named_like_the_stage(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, rest("/Prod/x", "/Prod/Prod/x"))
        assert (scope["root_path"], scope["path"]) == ("/Prod", "/Prod/Prod/x")

    def test_trailing_slash_in_request_context_path(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, rest("/foo%25bar", "/Prod/foo%25bar/"))
        assert (scope["root_path"], scope["path"], scope["raw_path"]) == (
            "/Prod",
            "/Prod/foo%bar",
            b"/Prod/foo%25bar",
        )

    def test_no_stage_prefix_when_the_client_path_has_none(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, rest("/test", "/test"))  # sam local, custom domains
        assert (scope["root_path"], scope["path"]) == ("", "/test")

    def test_default_stage_is_never_a_prefix(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, rest("/$default/x", "/$default/x", stage="$default"))
        assert scope["root_path"] == ""

    @pytest.mark.parametrize("base", ["/payment", "payment", "/payment/", "payment/"])
    def test_custom_domain_base_path(self, make_handler: MakeHandler, base: str) -> None:
        event = load_event("powertools/apigw-rest-v1/custom_api_mapping.json")
        scope, _ = serve(make_handler, event, api_gateway_base_path=base)
        assert (scope["root_path"], scope["path"]) == ("/payment", "/payment/subscriptions/123")

    def test_base_path_matches_whole_segments_only(self, make_handler: MakeHandler) -> None:
        event = rest("/paymentology/x", "/paymentology/x")
        scope, _ = serve(make_handler, event, api_gateway_base_path="/payment")
        assert (scope["root_path"], scope["path"]) == ("", "/paymentology/x")

    def test_path_without_leading_slash(self, make_handler: MakeHandler) -> None:
        event = load_event("aws-lambda-dotnet/apigw-rest-v1/encode-plus-in-resource-path.json")
        scope, _ = serve(make_handler, event)
        assert scope["path"] == "/Prod/api/resourcepath/string/foo+bar"

    @pytest.mark.parametrize(
        ("raw", "path", "raw_path"),
        [
            ("/foo%2Fbar", "/foo/bar", b"/foo%2Fbar"),
            ("/foo%25bar", "/foo%bar", b"/foo%25bar"),
            ("/foo%25%2Fbar", "/foo%/bar", b"/foo%25%2Fbar"),
            ("/caf%C3%A9", "/café", b"/caf%C3%A9"),
            ("/with space", "/with space", b"/with%20space"),
            ("/tags/john:81", "/tags/john:81", b"/tags/john:81"),
        ],
    )
    def test_path_decoded_once(
        self, make_handler: MakeHandler, raw: str, path: str, raw_path: bytes
    ) -> None:
        scope, _ = serve(make_handler, rest(raw, raw))
        assert (scope["path"], scope["raw_path"]) == (path, raw_path)

    def test_repeated_query_keys_survive(self, make_handler: MakeHandler) -> None:
        event = load_event(
            REST_REF,
            multiValueQueryStringParameters={"a": ["1", "2"], "q": ["hello world", "x&y=z"]},
            queryStringParameters={"a": "2", "q": "x&y=z"},
        )
        scope, _ = serve(make_handler, event)
        assert scope["query_string"] == b"a=1&a=2&q=hello+world&q=x%26y%3Dz"

    def test_single_value_query_when_no_multi_value(self, make_handler: MakeHandler) -> None:
        event = load_event(REST, queryStringParameters={"n": 5, "s": "a/b"})
        scope, _ = serve(make_handler, event)
        assert scope["query_string"] == b"n=5&s=a%2Fb"

    def test_headers_every_value_and_the_single_only_ones(self, make_handler: MakeHandler) -> None:
        event = load_event(
            REST_REF,
            headers={"X-Only-Single": "s", "Accept": "b"},
            multiValueHeaders={"Accept": ["a", "b"], "X-Num": [12345], "Cookie": ["c=1"]},
        )
        scope, _ = serve(make_handler, event)
        assert scope["headers"] == [
            (b"accept", b"a"),
            (b"accept", b"b"),
            (b"x-num", b"12345"),
            (b"cookie", b"c=1"),
            (b"x-only-single", b"s"),
        ]

    @pytest.mark.parametrize("field", ["headers", "multiValueHeaders"])
    def test_null_headers_mean_none(self, make_handler: MakeHandler, field: str) -> None:
        event = load_event(REST, headers=None, multiValueHeaders=None)
        event[field] = None
        scope, _ = serve(make_handler, event)
        assert scope["headers"] == []
        assert scope["server"] is None  # no Host header and no domainName in this event

    def test_client_server_scheme_version(self, make_handler: MakeHandler) -> None:
        event = load_event(
            REST,
            headers={"Host": "api.example.com:8443", "X-Forwarded-Proto": "http"},
            multiValueHeaders=None,
        )
        event["requestContext"]["protocol"] = "HTTP/2.0"
        event["requestContext"]["identity"]["sourceIp"] = "203.0.113.9"
        scope, _ = serve(make_handler, event)
        assert scope["server"] == ("api.example.com", 8443)
        assert scope["scheme"] == "http"
        assert scope["http_version"] == "2"
        assert scope["client"] == ("203.0.113.9", 0)

    def test_forwarded_port_wins_and_defaults_follow_scheme(
        self, make_handler: MakeHandler
    ) -> None:
        event = load_event(
            REST, headers={"Host": "h", "X-Forwarded-Port": "444"}, multiValueHeaders=None
        )
        assert serve(make_handler, event)[0]["server"] == ("h", 444)
        event = load_event(REST, headers={"Host": "h"}, multiValueHeaders=None)
        assert serve(make_handler, event)[0]["server"] == ("h", 443)

    def test_body_text_and_base64(self, make_handler: MakeHandler) -> None:
        app = Recorder()
        handler = make_handler(app)
        handler(load_event(REST, body="héllo", isBase64Encoded=False), Context())
        handler(
            load_event(REST, body=base64.b64encode(b"\x00\xff").decode(), isBase64Encoded=True),
            Context(),
        )
        handler(load_event(REST, body=None, isBase64Encoded=True), Context())
        assert app.bodies == ["héllo".encode(), b"\x00\xff", b""]

    def test_result_splits_single_and_repeated_headers(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            headers=[
                (b"Content-Type", b"application/json"),
                (b"Set-Cookie", b"a=1"),
                (b"set-cookie", b"b=2"),
                (b"x-latin", "é".encode("latin-1")),
            ],
            body=b'{"ok": true}',
        )
        _, result = serve(make_handler, load_event(REST), app)
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "application/json", "x-latin": "é"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": '{"ok": true}',
            "isBase64Encoded": False,
        }


class TestAPIGatewayV2:
    def test_named_stage_is_root_path(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, http_api("/beta/api/values", stage="beta"))
        assert (scope["root_path"], scope["path"]) == ("/beta", "/beta/api/values")

    def test_named_stage_matches_whole_segments(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, http_api("/betamax", stage="beta"))
        assert (scope["root_path"], scope["path"]) == ("", "/betamax")

    def test_default_stage(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, http_api("/my/path"))
        assert (scope["root_path"], scope["path"]) == ("", "/my/path")

    def test_base_path(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, http_api("/api/items/1"), api_gateway_base_path="/api")
        assert (scope["root_path"], scope["path"]) == ("/api", "/api/items/1")
        scope, _ = serve(make_handler, http_api("/apiary"), api_gateway_base_path="/api")
        assert (scope["root_path"], scope["path"]) == ("", "/apiary")

    def test_raw_query_string_is_byte_exact(self, make_handler: MakeHandler) -> None:
        event = load_event(
            "aws-lambda-dotnet/apigw-http-v2/values-get-querystring-httpapi-v2-encoding-request.json"
        )
        scope, _ = serve(make_handler, event)
        assert scope["query_string"] == event["rawQueryString"].encode()
        assert b"%2B" in scope["query_string"]

    def test_cookies_become_one_cookie_header(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, http_api("/", cookies=["a=1", "b=2"], headers={"x": "y"}))
        assert scope["headers"] == [(b"x", b"y"), (b"cookie", b"a=1; b=2")]

    def test_cookie_header_and_cookies_array_not_doubled(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(make_handler, load_event(FUNCTION_URL))
        cookies = [value for name, value in scope["headers"] if name == b"cookie"]
        assert cookies == [b"foo=bar; hello=hello"]

    def test_result_comma_joins_and_moves_cookies(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            headers=[
                (b"content-type", b"text/html; charset=utf-8"),
                (b"vary", b"accept"),
                (b"vary", b"origin"),
                (b"set-cookie", b"a=1; Path=/"),
                (b"set-cookie", b"b=2, with comma"),
            ],
            body="<p>é</p>".encode(),
        )
        _, result = serve(make_handler, http_api("/"), app)
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/html; charset=utf-8", "vary": "accept,origin"},
            "cookies": ["a=1; Path=/", "b=2, with comma"],
            "body": "<p>é</p>",
            "isBase64Encoded": False,
        }

    @pytest.mark.parametrize("raw_path", [None, ...])
    def test_missing_raw_path_is_a_bad_request(
        self, make_handler: MakeHandler, raw_path: Any
    ) -> None:
        app = Recorder()
        event = load_event(HTTP_API, rawPath=raw_path)
        result = make_handler(app)(event, Context())
        assert result["statusCode"] == 400
        assert app.scopes == []


class TestALB:
    def test_query_values_verbatim(self, make_handler: MakeHandler) -> None:
        event = load_event(
            "aws-lambda-rust-runtime/alb-single/alb_request_encoded_query_parameters.json"
        )
        scope, _ = serve(make_handler, event)
        params = event["queryStringParameters"]
        assert scope["query_string"] == "&".join(f"{k}={v}" for k, v in params.items()).encode()
        assert b"%3F" in scope["query_string"]

    def test_multi_value_query_every_value(self, make_handler: MakeHandler) -> None:
        event = load_event("bref/alb-multi/alb-multi-value-query-string-with-numeric-keys.json")
        scope, _ = serve(make_handler, event)
        pairs = [
            f"{key}={value}"
            for key, values in event["multiValueQueryStringParameters"].items()
            for value in values
        ]
        assert scope["query_string"].decode() == "&".join(pairs)

    def test_client_is_the_last_forwarded_hop(self, make_handler: MakeHandler) -> None:
        event = load_event(ALB_SINGLE)
        event["headers"]["x-forwarded-for"] = "198.51.100.1, 10.0.0.1, 203.0.113.7"
        scope, _ = serve(make_handler, event)
        assert scope["client"] == ("203.0.113.7", 0)

    def test_multi_value_result(self, make_handler: MakeHandler) -> None:
        app = Recorder(
            status=404, headers=[(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")], body=b""
        )
        result = make_handler(app)(load_event(ALB_MULTI), Context())
        assert result == {
            "statusCode": 404,
            "statusDescription": "404 Not Found",
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "",
            "isBase64Encoded": False,
        }

    def test_single_value_result_keeps_every_cookie(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        cookies = [f"c{i}={i}".encode() for i in range(4)]
        app = Recorder(headers=[(b"set-cookie", cookie) for cookie in cookies], body=b"")
        handler = make_handler(app)
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = handler(load_event(ALB_SINGLE), Context())
            handler(load_event(ALB_SINGLE), Context())
        headers = result["headers"]
        assert sorted(headers.values()) == sorted(cookie.decode() for cookie in cookies)
        assert len({name.lower() for name in headers}) == 1  # one header, distinct casings
        assert len(set(headers)) == 4
        hints = [r for r in caplog.records if "multi-value headers" in r.getMessage()]
        assert len(hints) == 1  # the hint is logged once, not per invocation

    def test_unknown_status_description(self, make_handler: MakeHandler) -> None:
        result = make_handler(Recorder(status=599))(load_event(ALB_SINGLE), Context())
        assert result["statusDescription"] == "599"


class TestBodyEncoding:
    @pytest.mark.parametrize(
        "content_type",
        [
            "text/plain",
            "text/html; charset=utf-8",
            "TEXT/CSV",
            "application/json",
            "application/problem+json",
            "application/vnd.api+json; charset=utf-8",
            "application/xml",
            "application/atom+xml",
            "application/javascript",
            "application/x-www-form-urlencoded",
            "image/svg+xml",
        ],
    )
    def test_textual_types_are_text(self, make_handler: MakeHandler, content_type: str) -> None:
        app = Recorder(headers=[(b"content-type", content_type.encode())], body="ü".encode())
        _, result = serve(make_handler, http_api("/"), app)
        assert (result["body"], result["isBase64Encoded"]) == ("ü", False)

    @pytest.mark.parametrize(
        ("headers", "body"),
        [
            ([(b"content-type", b"application/octet-stream")], b"abc"),
            ([(b"content-type", b"image/png")], b"abc"),
            ([], b"abc"),  # no content type at all
            ([(b"content-type", b"text/plain"), (b"content-encoding", b"gzip")], b"abc"),
            ([(b"content-type", b"text/plain")], b"\xff\xfe not utf-8"),
        ],
    )
    def test_everything_else_is_base64(
        self, make_handler: MakeHandler, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        _, result = serve(make_handler, http_api("/"), Recorder(headers=headers, body=body))
        assert result["isBase64Encoded"] is True
        assert base64.b64decode(result["body"]) == body

    def test_text_mime_types_extend_the_defaults(self, make_handler: MakeHandler) -> None:
        app = Recorder(headers=[(b"content-type", b"application/vnd.custom")], body=b"hi")
        _, result = serve(
            make_handler, http_api("/"), app, text_mime_types=["Application/Vnd.Custom"]
        )
        assert (result["body"], result["isBase64Encoded"]) == ("hi", False)
        app = Recorder(headers=[(b"content-type", b"application/json")], body=b"{}")
        _, result = serve(make_handler, http_api("/"), app, text_mime_types=["x/y"])
        assert (result["body"], result["isBase64Encoded"]) == ("{}", False)


class TestExcludeHeaders:
    @pytest.mark.parametrize("name", [REST, HTTP_API, ALB_SINGLE, ALB_MULTI])
    def test_excluded_everywhere(self, make_handler: MakeHandler, name: str) -> None:
        app = Recorder(
            headers=[(b"Server", b"uvicorn"), (b"x-keep", b"1"), (b"X-Internal", b"2")], body=b""
        )
        result = make_handler(app, exclude_headers=["server", "X-INTERNAL"])(
            load_event(name), Context()
        )
        headers = result.get("headers") or result.get("multiValueHeaders")
        assert headers is not None
        assert {key.lower() for key in headers} == {"x-keep"}


class TestLimitsAndBadInput:
    def test_result_over_lambda_limit_answers_502(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = Recorder(
            headers=[(b"content-type", b"application/octet-stream")], body=b"\0" * 5_000_000
        )
        handler = make_handler(app)
        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            result = handler(load_event(HTTP_API), Context())
        assert result["statusCode"] == 502
        assert "too large" in result["body"]
        assert "6291556" in caplog.text

    def test_text_result_over_limit_answers_502(self, make_handler: MakeHandler) -> None:
        app = Recorder(headers=[(b"content-type", b"text/plain")], body=b'"' * 3_500_000)
        result = make_handler(app)(load_event(REST), Context())
        assert result["statusCode"] == 502  # each quote is escaped: 7 MB of JSON

    def test_large_result_under_limit_passes(self, make_handler: MakeHandler) -> None:
        body = b"\1" * 4_500_000  # 6,000,000 characters of base64
        app = Recorder(headers=[(b"content-type", b"application/octet-stream")], body=body)
        result = make_handler(app)(load_event(HTTP_API), Context())
        assert result["statusCode"] == 200
        assert base64.b64decode(result["body"]) == body

    @pytest.mark.parametrize(
        ("name", "changes"),
        [
            (REST, {"body": "not base64!", "isBase64Encoded": True}),
            (REST, {"httpMethod": None}),
            (REST, {"path": ""}),
            (REST, {"body": {"json": "object"}}),
            (REST, {"headers": ["not", "a", "dict"], "multiValueHeaders": None}),
            (HTTP_API, {"body": "%%%", "isBase64Encoded": True}),
            (ALB_SINGLE, {"path": 7}),
        ],
    )
    def test_bad_request_data_answers_400(
        self,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
        name: str,
        changes: dict[str, Any],
    ) -> None:
        app = Recorder(lifespan_state={"kept": 1})
        handler = make_handler(app)
        with caplog.at_level(logging.WARNING, logger="mangum_like"):
            result = handler(load_event(name, **changes), Context())
        assert result["statusCode"] == 400
        assert result["body"].startswith("Bad Request")
        assert "answering 400" in caplog.text
        assert app.scopes == []
        # Nothing lost: the same environment serves the next request with its state.
        assert handler(load_event(name), Context())["statusCode"] == 200
        assert app.scope["state"] == {"kept": 1}
        assert app.lifespan_events == ["lifespan.startup"]


class TestDetection:
    @pytest.mark.parametrize("event", [None, [], "GET /", 42, {}, {"Records": []}])
    def test_unsupported_events_name_what_was_seen(
        self, make_handler: MakeHandler, event: Any
    ) -> None:
        with pytest.raises(UnsupportedEvent, match="Supported sources"):
            make_handler(Recorder())(event, Context())

    def test_durable_function_invocations_are_named(self, make_handler: MakeHandler) -> None:
        # The shape of an invocation of a Lambda durable function: the execution's ARN, the
        # checkpoint token, and the state to replay.
        event = {
            "DurableExecutionArn": "arn:aws:lambda:us-east-1:123456789012:function:orders:"
            "$LATEST/durable-execution/run-1/0f1e2d3c",
            "CheckpointToken": "token-1",
            "InitialExecutionState": {"Operations": [], "NextMarker": ""},
        }
        app = Recorder()
        handler = make_handler(app)
        with pytest.raises(UnsupportedEvent, match="durable function") as raised:
            handler(event, Context())
        assert "@durable_execution" in str(raised.value)
        # The environment serves the next HTTP event as ever.
        assert handler(load_event(HTTP_API), Context())["statusCode"] == 200

    def test_rest_event_carrying_connection_id_is_http(self, make_handler: MakeHandler) -> None:
        scope, _ = serve(
            make_handler, load_event("aws-lambda-dotnet/apigw-rest-v1/proxy-event.json")
        )
        assert scope["method"] == "POST"

    def test_http_api_authorizer_is_not_a_request(self, make_handler: MakeHandler) -> None:
        event = load_event("powertools/non-http/apiGatewayAuthorizerV2Event.json")
        with pytest.raises(UnsupportedEvent, match="routeArn"):
            make_handler(Recorder())(event, Context())


class MangumStyleHandler:
    """A handler class written for Mangum's custom_handlers protocol."""

    def __init__(self, event: Any, context: Any, config: Any) -> None:
        self.event, self.context, self.config = event, context, config

    @classmethod
    def infer(cls, event: Any, context: Any, config: Any) -> bool:
        return isinstance(event, dict) and "custom" in event

    @property
    def body(self) -> bytes:
        return str(self.event["custom"]).encode()

    @property
    def scope(self) -> Scope:
        return {
            "type": "http",
            "method": "PUT",
            "path": "/custom",
            "raw_path": b"/custom",
            "root_path": "",
            "query_string": b"",
            "headers": [],
            "scheme": "https",
            "server": None,
            "client": None,
            "http_version": "1.1",
            "asgi": {"version": "3.0"},
            "aws.event": self.event,
        }

    def __call__(self, response: dict[str, Any]) -> dict[str, Any]:
        return {
            "code": response["status"],
            "text": response["body"].decode(),
            "base": self.config["api_gateway_base_path"],
        }


class TestCustomHandlers:
    def test_custom_handler_is_tried_first(self, make_handler: MakeHandler) -> None:
        app = Recorder(body=b"done")
        handler = make_handler(
            app, api_gateway_base_path="/b", custom_handlers=[MangumStyleHandler]
        )
        result = handler({"custom": "payload"}, Context())
        assert result == {"code": 200, "text": "done", "base": "/b"}
        assert app.bodies == [b"payload"]
        assert app.scope["method"] == "PUT"
        # Events the custom handler does not claim go to the built-in sources.
        assert handler(load_event(HTTP_API), Context())["statusCode"] == 200


class TestMangumCompatibility:
    """Shapes and behaviours that Mangum 0.22's own test suite expects."""

    def test_declared_version_1_decides_over_an_http_context(
        self, make_handler: MakeHandler
    ) -> None:
        event = load_event(REST_REF)  # "version": "1.0"
        event["requestContext"]["http"] = {"method": "DELETE", "path": "/other"}
        _, result = serve(make_handler, event)
        assert "multiValueHeaders" in result  # the REST / payload 1.0 result shape
        assert result["statusCode"] == 200

    def test_version_2_with_an_http_context_stays_v2(self, make_handler: MakeHandler) -> None:
        event = load_event(HTTP_API, httpMethod="GET", path="/x")
        scope, result = serve(make_handler, event)
        assert "multiValueHeaders" not in result
        assert scope["path"] == event["rawPath"]

    @pytest.mark.parametrize("name", [HTTP_API, FUNCTION_URL])
    def test_no_cookies_key_without_cookies(self, make_handler: MakeHandler, name: str) -> None:
        _, result = serve(make_handler, load_event(name))
        assert result == {
            "statusCode": 200,
            "headers": {"content-type": "text/plain"},
            "body": "ok",
            "isBase64Encoded": False,
        }


class TestAccessLog:
    def test_one_info_line_per_request(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture, backend: str
    ) -> None:
        handler = make_handler(Recorder(status=201), backend=backend)
        with caplog.at_level(logging.INFO, logger="mangum_like.http"):
            handler(load_event(HTTP_API), Context())
            handler(load_event(REST, httpMethod="post"), Context())
        lines = [r for r in caplog.records if r.name == "mangum_like.http"]
        assert [r.levelno for r in lines] == [logging.INFO, logging.INFO]
        assert re.fullmatch(r"GET /my/path 201 \d+\.\dms", lines[0].getMessage())
        assert re.fullmatch(r"POST /Prod/todos 201 \d+\.\dms", lines[1].getMessage())

    def test_the_status_answered_is_logged(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        app = Recorder(
            headers=[(b"content-type", b"application/octet-stream")], body=b"\0" * 5_000_000
        )
        with caplog.at_level(logging.INFO, logger="mangum_like.http"):
            make_handler(app)(load_event(HTTP_API), Context())
        line = next(r for r in caplog.records if r.name == "mangum_like.http")
        assert " 502 " in line.getMessage()

    def test_nothing_built_below_info(
        self, make_handler: MakeHandler, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        calls: list[str] = []

        def clock() -> float:
            calls.append("timed")
            return 0.0

        monkeypatch.setattr(mangum_like._invocation, "_clock", clock)
        access = logging.getLogger("mangum_like.http")
        monkeypatch.setattr(access, "info", lambda *args: calls.append("logged"))
        handler = make_handler(Recorder())
        handler(load_event(HTTP_API), Context())  # the default level: WARNING
        assert calls == []
        access.setLevel(logging.INFO)
        try:
            handler(load_event(HTTP_API), Context())
        finally:
            access.setLevel(logging.NOTSET)
        assert calls == ["timed", "timed", "logged"]

    def test_config_carries_mangums_default_text_types(self, make_handler: MakeHandler) -> None:
        """Handlers written for Mangum pick text or base64 with config["text_mime_types"]."""
        seen: list[Any] = []

        class Spy(MangumStyleHandler):
            @classmethod
            def infer(cls, event: Any, context: Any, config: Any) -> bool:
                seen.append(config["text_mime_types"])
                return False

        handler = make_handler(Recorder(), custom_handlers=[Spy], text_mime_types=["x/y"])
        handler(load_event(HTTP_API), Context())
        assert seen == [
            [
                "text/",
                "application/json",
                "application/javascript",
                "application/xml",
                "application/vnd.api+json",
                "application/vnd.oai.openapi",
                "x/y",
            ]
        ]
