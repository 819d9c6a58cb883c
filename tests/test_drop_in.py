"""What users meet first: their own tests' mock contexts, real gateways' paths and headers,
ALB's size limits, context variables, IPv6 hosts. Whole results, on asyncio and trio."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
from collections.abc import Callable
from typing import Any
from unittest.mock import MagicMock, Mock

import pytest

from mangum_like import Mangum
from mangum_like._types import Receive, Scope, Send

from .helpers import Context, Recorder, load_event
from .test_streaming import RecordingStream

MakeHandler = Callable[..., Mangum]

HTTP_API = "powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json"
HTTP_API_V1 = "powertools/apigw-rest-v1/apiGatewayProxyEvent.json"  # "version": "1.0"
REST = "powertools/apigw-rest-v1/getting_started_rest_api_resolver.json"  # no version
FUNCTION_URL = "powertools/function-url/lambdaFunctionUrlEvent.json"
ALB_SINGLE = "aws-lambda-rust-runtime/alb-single/alb_request.json"

PLAIN = {"content-type": "text/plain"}


class NotImplementedContext:
    """A hand-written stub as test suites have them: the method exists but cannot answer."""

    aws_request_id = "stub"

    def get_remaining_time_in_millis(self) -> int:
        raise NotImplementedError


MOCK_CONTEXTS: dict[str, Callable[[], Any]] = {
    "MagicMock": MagicMock,
    "Mock": Mock,
    "NotImplementedError": NotImplementedContext,
    "None": lambda: None,
    "bool": lambda: Mock(get_remaining_time_in_millis=Mock(return_value=True)),
    "NaN": lambda: Mock(get_remaining_time_in_millis=Mock(return_value=float("nan"))),
    "str": lambda: Mock(get_remaining_time_in_millis=Mock(return_value="30000")),
}


class TestMockContexts:
    """A remaining time that cannot be read or is no real number means no deadline."""

    @pytest.mark.parametrize("kind", list(MOCK_CONTEXTS))
    def test_buffered(
        self,
        kind: str,
        backend: str,
        make_handler: MakeHandler,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        handler = make_handler(Recorder(body=b"served"), backend=backend)
        with caplog.at_level(logging.DEBUG, logger="mangum_like"):
            results = [handler(load_event(HTTP_API), MOCK_CONTEXTS[kind]()) for _ in range(3)]
        assert (
            results
            == [{"statusCode": 200, "headers": PLAIN, "body": "served", "isBase64Encoded": False}]
            * 3
        )
        notes = [r for r in caplog.records if "deadline guard is off" in r.getMessage()]
        assert [note.levelno for note in notes] == [logging.DEBUG]  # once per handler

    @pytest.mark.parametrize("kind", list(MOCK_CONTEXTS))
    def test_streamed(self, kind: str, backend: str, make_handler: MakeHandler) -> None:
        handler = make_handler(Recorder(body=b"served"), backend=backend)
        stream = RecordingStream()
        assert handler.stream(load_event(FUNCTION_URL), MOCK_CONTEXTS[kind](), stream) is None
        assert stream.prelude == {"statusCode": 200, "headers": PLAIN, "cookies": []}
        assert stream.body == b"served"
        assert stream.kinds[-1] == "end"

    def test_a_real_float_still_guards(self, backend: str, make_handler: MakeHandler) -> None:
        async def slow(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                return
            import anyio

            await anyio.sleep(5)

        context = Mock(get_remaining_time_in_millis=Mock(return_value=150.0))
        handler = make_handler(slow, backend=backend, timeout_margin=0.1)
        result = handler(load_event(HTTP_API), context)
        assert result["statusCode"] == 504


def scope_paths(event: dict[str, Any], make_handler: MakeHandler) -> tuple[str, bytes]:
    app = Recorder()
    result = make_handler(app)(event, Context())
    assert result["statusCode"] == 200, result
    return app.scope["path"], app.scope["raw_path"]


# A client's path, and the path the app must see: decoded exactly once.
CLIENT_PATHS = [
    ("/files/100%2525", "/files/100%25"),
    ("/a%2Fb", "/a/b"),
    ("/q%3Fx", "/q?x"),
    ("/%252e%252e/etc", "/%2e%2e/etc"),
]


class TestPathDecodedOncePerService:
    """HTTP APIs deliver the path decoded; REST APIs, function URLs and ALB as sent."""

    @pytest.mark.parametrize(("sent", "seen"), CLIENT_PATHS)
    def test_http_api_payload_2(self, sent: str, seen: str, make_handler: MakeHandler) -> None:
        # What the HTTP API puts in rawPath: the client's path, decoded once.
        from urllib.parse import quote, unquote

        delivered = unquote(sent)
        event = load_event(HTTP_API, rawPath=delivered)
        event["requestContext"]["http"]["path"] = delivered
        assert scope_paths(event, make_handler) == (
            seen,
            quote(seen, safe="/!$&'()*+,;=:@-._~").encode(),
        )

    @pytest.mark.parametrize(("sent", "seen"), CLIENT_PATHS)
    def test_http_api_payload_1(self, sent: str, seen: str, make_handler: MakeHandler) -> None:
        from urllib.parse import quote, unquote

        event = load_event(HTTP_API_V1, path=unquote(sent))
        assert event["version"] == "1.0" and event["requestContext"]["stage"] == "$default"
        assert scope_paths(event, make_handler) == (
            seen,
            quote(seen, safe="/!$&'()*+,;=:@-._~").encode(),
        )

    @pytest.mark.parametrize(("sent", "seen"), CLIENT_PATHS)
    def test_function_url(self, sent: str, seen: str, make_handler: MakeHandler) -> None:
        event = load_event(FUNCTION_URL, rawPath=sent)
        assert ".lambda-url." in event["requestContext"]["domainName"]
        assert scope_paths(event, make_handler) == (seen, sent.encode())

    @pytest.mark.parametrize(("sent", "seen"), CLIENT_PATHS)
    def test_rest_api(self, sent: str, seen: str, make_handler: MakeHandler) -> None:
        event = load_event(REST, path=sent)
        event["requestContext"]["path"] = "/Prod" + sent
        assert "version" not in event
        assert scope_paths(event, make_handler) == ("/Prod" + seen, b"/Prod" + sent.encode())

    @pytest.mark.parametrize(("sent", "seen"), CLIENT_PATHS)
    def test_alb(self, sent: str, seen: str, make_handler: MakeHandler) -> None:
        event = load_event(ALB_SINGLE, path=sent)
        assert scope_paths(event, make_handler) == (seen, sent.encode())

    def test_http_api_path_with_space_and_unicode(self, make_handler: MakeHandler) -> None:
        event = load_event(HTTP_API, rawPath="/café menu")
        assert scope_paths(event, make_handler) == ("/café menu", b"/caf%C3%A9%20menu")


class TestALBSingleValueHeaders:
    def test_repeated_header_values_are_joined(self, make_handler: MakeHandler) -> None:
        headers = [(b"x-a", str(i).encode()) for i in range(6)]
        headers += [(b"te", f"t{i}".encode()) for i in range(5)]
        app = Recorder(headers=headers, body=b"")
        result = make_handler(app)(load_event(ALB_SINGLE), Context())
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {"x-a": "0, 1, 2, 3, 4, 5", "te": "t0, t1, t2, t3, t4"},
            "body": "",
            "isBase64Encoded": False,
        }

    def test_three_set_cookies_each_under_its_own_casing(self, make_handler: MakeHandler) -> None:
        headers = [(b"set-cookie", f"c{i}={i}".encode()) for i in range(3)]
        headers.append((b"vary", b"accept"))
        headers.append((b"vary", b"origin"))
        app = Recorder(headers=headers, body=b"")
        result = make_handler(app)(load_event(ALB_SINGLE), Context())
        assert result == {
            "statusCode": 200,
            "statusDescription": "200 OK",
            "headers": {
                "set-cookie": "c0=0",
                "Set-cookie": "c1=1",
                "sEt-cookie": "c2=2",
                "vary": "accept, origin",
            },
            "body": "",
            "isBase64Encoded": False,
        }


ALB_LIMIT = 1024 * 1024


def alb_result_of_size(size: int) -> tuple[Recorder, dict[str, Any]]:
    """An app whose ALB result serialises to exactly ``size`` bytes, and the event."""
    event = load_event(ALB_SINGLE)
    probe = Mangum(Recorder(body=b""), lifespan="off")
    try:
        envelope = len(json.dumps(probe(event, Context())).encode())
    finally:
        probe.shutdown()
    return Recorder(body=b"a" * (size - envelope)), event


class TestALBLimits:
    def test_result_of_exactly_1_mb_passes(self, make_handler: MakeHandler) -> None:
        app, event = alb_result_of_size(ALB_LIMIT)
        result = make_handler(app)(event, Context())
        assert result["statusCode"] == 200
        assert len(json.dumps(result).encode()) == ALB_LIMIT

    def test_result_of_1_mb_and_1_byte_answers_502(
        self, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
    ) -> None:
        app, event = alb_result_of_size(ALB_LIMIT + 1)
        with caplog.at_level(logging.ERROR, logger="mangum_like"):
            result = make_handler(app)(event, Context())
        assert result == {
            "statusCode": 502,
            "statusDescription": "502 Bad Gateway",
            "headers": {"content-type": "text/plain; charset=utf-8"},
            "body": "Bad Gateway: response too large for Application Load Balancer",
            "isBase64Encoded": False,
        }
        [record] = caplog.records
        assert f"{ALB_LIMIT + 1} bytes once mapped, over the {ALB_LIMIT}-byte limit" in (
            record.getMessage()
        )


REQUEST_VAR: contextvars.ContextVar[str] = contextvars.ContextVar("request_var")


async def var_app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = REQUEST_VAR.get("unset").encode()
    headers = [(b"content-type", b"text/plain")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class TestCallerContextVariables:
    def test_the_app_sees_the_callers_variables(
        self, backend: str, make_handler: MakeHandler
    ) -> None:
        handler = make_handler(var_app, backend=backend)
        bodies = []
        for value in ("first", "second"):
            token = REQUEST_VAR.set(value)
            try:
                bodies.append(handler(load_event(HTTP_API), Context())["body"])
            finally:
                REQUEST_VAR.reset(token)
        assert bodies == ["first", "second"]

    def test_called_from_a_running_loop(self, make_handler: MakeHandler) -> None:
        # pytest-asyncio style: the handler is called inside the caller's own loop, so the
        # app runs on the handler's loop in its thread.
        handler = make_handler(var_app)

        async def caller() -> str:
            REQUEST_VAR.set("from the caller's task")
            body: str = handler(load_event(HTTP_API), Context())["body"]
            return body

        assert asyncio.run(caller()) == "from the caller's task"


class TestIPv6Host:
    @pytest.mark.parametrize(
        ("host", "server"),
        [
            ("[::1]:8000", ("::1", 8000)),
            ("[::1]", ("::1", 443)),
            ("[2001:db8::7]:80", ("2001:db8::7", 80)),
        ],
    )
    def test_server_is_the_bare_address(
        self, host: str, server: tuple[str, int], make_handler: MakeHandler
    ) -> None:
        event = load_event(HTTP_API)
        event["headers"]["host"] = host
        app = Recorder()
        make_handler(app)(event, Context())
        assert app.scope["server"] == server


def test_an_exception_starlette_answered_is_logged_as_the_apps(
    make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    # Starlette's error middleware sends its 500, then re-raises the route's exception.
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.routing import Route

    async def broken(request: Request) -> Any:
        raise ValueError("the route failed")

    app = Starlette(routes=[Route("/my/path", broken)])
    with caplog.at_level(logging.ERROR, logger="mangum_like"):
        result = make_handler(app, lifespan="off")(load_event(HTTP_API), Context())
    assert result["statusCode"] == 500
    [record] = [r for r in caplog.records if r.name == "mangum_like"]
    assert record.getMessage() == (
        "Exception in the app serving GET /my/path (raised after it had sent its 500 "
        "response, which the client gets)"
    )
    assert record.exc_info is not None and str(record.exc_info[1]) == "the route failed"
