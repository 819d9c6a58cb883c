"""``Mangum(app, lambda_errors=...)``: the app's failure as a Lambda function error.

Off by default (Mangum's behaviour: an exception is answered 500). With ``True`` an app that
raises before completing its response, or sends a 500 and then raises (Starlette's and FastAPI's
error middleware), makes the invocation raise ``InvocationFailed``; a list of statuses fails on
those statuses too. A complete response of another status stands whatever the app raises after
it; the deadline guard's 504 fails only when 504 is listed; a malformed event is answered 400.
``None`` reads ``MANGUM_LIKE_LAMBDA_ERRORS`` when the handler is built.

In process first (``MagicMock()`` contexts, real Starlette and FastAPI apps, on asyncio and
trio), then end to end: ``tests.lambda_apps.errors_app`` in a subprocess under the official
client and under our runtime loop, against the Runtime API emulator.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from unittest.mock import MagicMock

import anyio
import pytest
from fastapi import FastAPI, HTTPException
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from mangum_like import ConfigurationError, InvocationFailed, Mangum
from mangum_like._invocation import Early, invoke
from mangum_like._types import Receive, Scope, Send
from tests.example_events import http_api
from tests.lambda_apps.errors_app import BACKGROUND_SECONDS, LATE_SECONDS, TOKEN
from tests.test_answer_first import next_request_after, since_sent
from tests.test_lambda_runtime import OURS, RIC, answer, runtime, url_event

MakeHandler = Callable[..., Mangum]

ENV = "MANGUM_LIKE_LAMBDA_ERRORS"
REQUEST_ID = "5e1f0c2a-0000-4000-8000-00000000beef"
BOOM = "GET /boom answered 500 after the app raised ZeroDivisionError: division by zero"


@pytest.fixture(autouse=True)
def _no_env_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without the variable; those about it set it themselves."""
    monkeypatch.delenv(ENV, raising=False)


def context(remaining_ms: Any = None) -> MagicMock:
    """A ``MagicMock()`` Lambda context with a request id (and, if given, a remaining time)."""
    ctx = MagicMock()
    ctx.aws_request_id = REQUEST_ID
    if remaining_ms is not None:
        ctx.get_remaining_time_in_millis.return_value = remaining_ms
    return ctx


def get(path: str) -> dict[str, Any]:
    return http_api("GET", path)


class Starts:
    """Counts the lifespan startups of an app."""

    def __init__(self) -> None:
        self.count = 0


def starlette_app(starts: Starts | None = None) -> Starlette:
    """A Starlette app with a lifespan state and one route per way of failing."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if starts is not None:
            starts.count += 1
        yield {"token": TOKEN}

    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"ok {request.state.token}")

    async def boom(request: Request) -> PlainTextResponse:
        return PlainTextResponse(str(1 / 0))

    async def status(request: Request) -> PlainTextResponse:
        code = int(request.path_params["code"])
        return PlainTextResponse(f"status {code}", status_code=code)

    async def fail_later() -> None:
        raise LookupError("background failure")

    async def bg_raise(request: Request) -> PlainTextResponse:
        return PlainTextResponse("answered", background=BackgroundTask(fail_later))

    return Starlette(
        routes=[
            Route("/ok", ok),
            Route("/boom", boom),
            Route("/status/{code}", status),
            Route("/bg-raise", bg_raise),
        ],
        lifespan=lifespan,
    )


def fastapi_app() -> FastAPI:
    api = FastAPI()

    @api.get("/ok")
    async def ok() -> dict[str, str]:
        return {"ok": "yes"}

    @api.get("/boom")
    async def boom() -> dict[str, str]:
        raise ValueError("fastapi failure")

    @api.get("/unavailable")
    async def unavailable() -> dict[str, str]:
        raise HTTPException(503, "down for maintenance")

    return api


async def raise_before_start(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await receive()
    raise KeyError("no response at all")


async def raise_after_start(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"part", "more_body": True})
    raise OSError("cut off mid-body")


async def sleeper(scope: Scope, receive: Receive, send: Send) -> None:
    """Never answers in time: the deadline guard cuts it short."""
    if scope["type"] != "http":
        return
    await anyio.sleep(10)


# -- off by default ---------------------------------------------------------------------------


def test_off_by_default_an_exception_answers_500(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(starlette_app(), backend=backend)
    result = handler(get("/boom"), context())
    assert result["statusCode"] == 500
    assert result["body"] == "Internal Server Error"
    assert handler(get("/ok"), context())["body"] == f"ok {TOKEN}"


def test_false_is_off_whatever_the_environment_says(
    make_handler: MakeHandler, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "true")
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=False)
    assert handler(get("/boom"), context())["statusCode"] == 500


# -- True: exceptions fail the invocation -------------------------------------------------------


def test_starlette_500_then_raise_fails(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=True)
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/boom"), context())
    failure = caught.value
    assert (failure.status, failure.method, failure.path) == (500, "GET", "/boom")
    assert failure.request_id == REQUEST_ID
    assert isinstance(failure.error, ZeroDivisionError)
    assert failure.__cause__ is failure.error
    assert str(failure) == BOOM
    # The environment goes on: the same loop, the same lifespan state.
    assert handler(get("/ok"), context())["body"] == f"ok {TOKEN}"


def test_fastapi_500_then_raise_fails(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(fastapi_app(), backend=backend, lambda_errors=True)
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/boom"), context())
    assert caught.value.status == 500
    assert isinstance(caught.value.__cause__, ValueError)
    assert str(caught.value) == (
        "GET /boom answered 500 after the app raised ValueError: fastapi failure"
    )
    # HTTPException(503) is an answer, not an exception, and 503 is not listed.
    assert handler(get("/unavailable"), context())["statusCode"] == 503
    assert handler(get("/ok"), context())["statusCode"] == 200


@pytest.mark.parametrize(
    ("app", "error_type"),
    [(raise_before_start, KeyError), (raise_after_start, OSError)],
    ids=["before-start", "mid-body"],
)
def test_raising_before_the_response_is_complete_fails(
    make_handler: MakeHandler, backend: str, app: Any, error_type: type[Exception]
) -> None:
    handler = make_handler(app, backend=backend, lambda_errors=True)
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/raw"), context())
    failure = caught.value
    assert (failure.status, failure.method, failure.path) == (500, "GET", "/raw")
    assert type(failure.error) is error_type
    assert failure.__cause__ is failure.error
    name = error_type.__name__
    assert str(failure) == f"GET /raw answered 500 after the app raised {name}: {failure.error}"


def test_a_500_without_an_exception_stands_unless_listed(
    make_handler: MakeHandler, backend: str
) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=True)
    result = handler(get("/status/500"), context())
    assert (result["statusCode"], result["body"]) == (500, "status 500")
    listed = make_handler(starlette_app(), backend=backend, lambda_errors=[500])
    with pytest.raises(InvocationFailed) as caught:
        listed(get("/status/500"), context())
    assert (caught.value.status, caught.value.error, caught.value.__cause__) == (500, None, None)
    assert str(caught.value) == "GET /status/500 answered 500"


def test_an_exception_after_a_complete_200_does_not_fail(
    make_handler: MakeHandler, backend: str, caplog: pytest.LogCaptureFixture
) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=True)
    with caplog.at_level(logging.ERROR, logger="mangum_like"):
        result = handler(get("/bg-raise"), context())
    assert (result["statusCode"], result["body"]) == (200, "answered")
    logged = [r for r in caplog.records if r.name == "mangum_like" and r.exc_info]
    assert [type(r.exc_info[1]) for r in logged if r.exc_info] == [LookupError]


# -- a list of statuses -------------------------------------------------------------------------


def test_listed_statuses_fail_and_others_stand(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=[503])
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/status/503"), context())
    failure = caught.value
    assert (failure.status, failure.path, failure.error, failure.__cause__) == (
        503,
        "/status/503",
        None,
        None,
    )
    assert str(failure) == "GET /status/503 answered 503"
    for code in (200, 404, 500, 502):
        assert handler(get(f"/status/{code}"), context())["statusCode"] == code
    # A list keeps exceptions failing.
    with pytest.raises(InvocationFailed, match="ZeroDivisionError"):
        handler(get("/boom"), context())


def test_fastapi_http_exception_fails_when_its_status_is_listed(
    make_handler: MakeHandler, backend: str
) -> None:
    handler = make_handler(fastapi_app(), backend=backend, lambda_errors=(503,))
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/unavailable"), context())
    assert (caught.value.status, caught.value.error) == (503, None)


def test_any_iterable_of_statuses_is_taken(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=range(502, 505))
    for code in (502, 503, 504):
        with pytest.raises(InvocationFailed):
            handler(get(f"/status/{code}"), context())
    assert handler(get("/status/501"), context())["statusCode"] == 501
    assert handler(get("/status/505"), context())["statusCode"] == 505


# -- the deadline guard's 504 -------------------------------------------------------------------


def test_deadline_504_answers_unless_listed(make_handler: MakeHandler, backend: str) -> None:
    # 300 ms left, a margin of 0.2 s: the guard cuts the request at 0.1 s.
    handler = make_handler(sleeper, backend=backend, lambda_errors=True, timeout_margin=0.2)
    result = handler(get("/slow"), context(remaining_ms=300))
    assert (result["statusCode"], result["body"]) == (504, "Gateway Timeout")
    listed = make_handler(sleeper, backend=backend, lambda_errors=[504], timeout_margin=0.2)
    with pytest.raises(InvocationFailed) as caught:
        listed(get("/slow"), context(remaining_ms=300))
    assert (caught.value.status, caught.value.path, caught.value.error) == (504, "/slow", None)


# -- malformed events ---------------------------------------------------------------------------


def test_malformed_events_still_answer_400(make_handler: MakeHandler, backend: str) -> None:
    handler = make_handler(starlette_app(), backend=backend, lambda_errors=[400, 500])
    bad_body = http_api("POST", "/ok")
    bad_body["body"] = 12345  # not a string: InvalidRequest
    result = handler(bad_body, context())
    assert result["statusCode"] == 400
    assert result["body"].startswith("Bad Request: the event's body must be a string")
    damaged = get("/ok")
    damaged["headers"] = "damaged"
    result = handler(damaged, context())
    assert (result["statusCode"], result["body"]) == (400, "Bad Request: malformed event")


# -- the environment variable -------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", "0", "false", "off", "no", " Off ", "FALSE"])
def test_env_off_values(
    make_handler: MakeHandler, backend: str, monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    if value is not None:
        monkeypatch.setenv(ENV, value)
    handler = make_handler(starlette_app(), backend=backend)
    assert handler(get("/boom"), context())["statusCode"] == 500


@pytest.mark.parametrize("value", ["1", "true", "on", "yes", "TRUE", " Yes "])
def test_env_on_values_fail_on_exceptions_only(
    make_handler: MakeHandler, backend: str, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(ENV, value)
    handler = make_handler(starlette_app(), backend=backend)
    with pytest.raises(InvocationFailed) as caught:
        handler(get("/boom"), context())
    assert str(caught.value) == BOOM
    assert handler(get("/status/503"), context())["statusCode"] == 503
    assert handler(get("/status/500"), context())["statusCode"] == 500


def test_env_status_list_and_ranges(
    make_handler: MakeHandler, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "500, 502-504")
    handler = make_handler(starlette_app(), backend=backend)
    with pytest.raises(InvocationFailed, match="ZeroDivisionError"):
        handler(get("/boom"), context())
    for code in (500, 502, 503, 504):
        with pytest.raises(InvocationFailed) as caught:
            handler(get(f"/status/{code}"), context())
        assert (caught.value.status, caught.value.error) == (code, None)
    for code in (200, 501, 505):
        assert handler(get(f"/status/{code}"), context())["statusCode"] == code


@pytest.mark.parametrize(
    "value",
    [
        "maybe",
        "5OO",
        "500,abc",
        "99",
        "600",
        "504-502",
        "500,,502",
        "-1",
        "500-502-504",
        "500-",
        "500-600",
    ],
)
def test_env_bad_values_raise_at_construction(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(ENV, value)
    with pytest.raises(ConfigurationError, match=ENV):
        Mangum(starlette_app())


def test_env_is_read_when_the_handler_is_built(
    make_handler: MakeHandler, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "true")
    built_on = make_handler(starlette_app(), backend=backend)
    monkeypatch.delenv(ENV)
    built_off = make_handler(starlette_app(), backend=backend)
    monkeypatch.setenv(ENV, "true")
    with pytest.raises(InvocationFailed):
        built_on(get("/boom"), context())
    assert built_off(get("/boom"), context())["statusCode"] == 500


def test_an_explicit_option_wins_over_a_bad_env_value(
    make_handler: MakeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "nonsense")
    handler = make_handler(starlette_app(), lambda_errors=True)
    with pytest.raises(InvocationFailed):
        handler(get("/boom"), context())


@pytest.mark.parametrize(
    "value",
    ["true", "500", b"500", [99], [600], [True], [500.0], [None], ["500"], 600, 3.5],
    ids=repr,
)
def test_bad_option_values(value: Any) -> None:
    with pytest.raises(ConfigurationError, match="lambda_errors must be True, False or a list"):
        Mangum(starlette_app(), lambda_errors=value)


# -- the early sink: a result that may fail is held until the app returns ------------------------


class Delivered:
    """What ``Early`` handed over, and whether the app had returned by then."""

    def __init__(self) -> None:
        self.returned = False
        self.answers: list[tuple[bool, Callable[[], Any]]] = []

    def deliver(self, answer: Callable[[], Any]) -> None:
        self.answers.append((self.returned, answer))


def answering(status: int, raises: bool, delivered: Delivered) -> Any:
    """A raw app that sends a whole ``status`` response, works a little, then raises or not."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await receive()
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"done"})
        await anyio.sleep(0.05)
        delivered.returned = True
        if raises:
            raise RuntimeError("after the response")

    return app


@pytest.mark.parametrize(
    ("status", "raises", "lambda_errors", "held", "fails"),
    [
        (200, True, True, False, False),  # handed over at once; the exception is logged
        (500, True, True, True, True),  # held: the app raised after its 500
        (500, False, True, True, False),  # held, then handed over: no exception came
        (503, False, [503], True, True),  # a listed status
        (503, False, True, False, False),  # not listed: at once
        (500, True, False, False, False),  # off: at once, as the app answered
    ],
)
def test_early_sink_holds_what_may_fail(
    make_handler: MakeHandler,
    backend: str,
    status: int,
    raises: bool,
    lambda_errors: Any,
    held: bool,
    fails: bool,
) -> None:
    delivered = Delivered()
    handler = make_handler(
        answering(status, raises, delivered), backend=backend, lambda_errors=lambda_errors
    )
    assert invoke(handler, get("/early"), context(), Early(delivered.deliver)) is None
    assert len(delivered.answers) == 1
    after_return, answer_now = delivered.answers[0]
    assert after_return is held
    if fails:
        with pytest.raises(InvocationFailed) as caught:
            answer_now()
        assert caught.value.status == status
        assert caught.value.request_id == REQUEST_ID
    else:
        result = answer_now()
        assert (result["statusCode"], result["body"]) == (status, "done")


def test_early_sink_fails_an_app_that_raised_without_answering(
    make_handler: MakeHandler, backend: str
) -> None:
    delivered = Delivered()
    handler = make_handler(raise_before_start, backend=backend, lambda_errors=True)
    invoke(handler, get("/raw"), context(), Early(delivered.deliver))
    [(_, answer_now)] = delivered.answers
    with pytest.raises(InvocationFailed) as caught:
        answer_now()
    assert isinstance(caught.value.__cause__, KeyError)


# -- end to end: the official client and our runtime loop ---------------------------------------

APP = "tests.lambda_apps.errors_app.handler"
RUNTIMES = pytest.mark.parametrize("argv", [RIC, OURS], ids=["awslambdaric", "ours"])
EARLY = 0.05  # seconds: an answered-first result reaches the Runtime API within this


@RUNTIMES
def test_e2e_on_the_invocation_fails_and_the_environment_goes_on(argv: tuple[str, ...]) -> None:
    with runtime([*argv, APP], {ENV: "true"}) as emulator:
        failed = emulator.invoke(url_event("/boom"), request_id="req-boom")
        assert failed.kind == "error", emulator.output
        error = failed.json()
        assert error["errorType"] == "InvocationFailed"
        assert error["errorMessage"] == BOOM
        assert error["requestId"] == "req-boom"
        # The stack trace shows where the app raised.
        assert any("errors_app.py" in frame for frame in error["stackTrace"]), error

        # The next invocation is served by the same environment: lifespan state intact.
        assert answer(emulator.invoke(url_event("/ok"))) == (200, f"ok {TOKEN} 1".encode())
        # 503 is not listed: the app's answer stands.
        assert answer(emulator.invoke(url_event("/unavailable"))) == (503, b"try later")
        assert answer(emulator.invoke(url_event("/ok"))) == (200, f"ok {TOKEN} 2".encode())
        assert emulator.output.count("ERRORS_APP STARTUP") == 1


@RUNTIMES
def test_e2e_off_the_app_answers_500(argv: tuple[str, ...]) -> None:
    with runtime([*argv, APP]) as emulator:
        invocation = emulator.invoke(url_event("/boom"))
        assert invocation.kind == "response", emulator.output
        result = invocation.json()
        assert (result["statusCode"], result["body"]) == (500, "Internal Server Error")
        assert answer(emulator.invoke(url_event("/ok"))) == (200, f"ok {TOKEN} 1".encode())


def test_e2e_ours_posts_the_error_once_the_app_returned_and_still_answers_first() -> None:
    with runtime([*OURS, APP], {ENV: "true"}) as emulator:
        assert answer(emulator.invoke(url_event("/ok"))) == (200, f"ok {TOKEN} 1".encode())
        # A whole 500, then an exception LATE_SECONDS later: the error is posted, once the app
        # has returned, with its type in the header.
        late = emulator.invoke(url_event("/late-boom"))
        assert late.kind == "error", emulator.output
        assert late.posted == "error"
        assert late.headers["Lambda-Runtime-Function-Error-Type"] == "InvocationFailed"
        assert late.json()["errorMessage"] == (
            "GET /late-boom answered 500 after the app raised RuntimeError: late failure"
        )
        assert late.duration >= LATE_SECONDS - 0.02
        # A 200 with background work is answered first, the work runs before the next /next.
        quick = emulator.invoke(url_event("/bg"))
        assert answer(quick) == (200, b"answered")
        assert quick.duration < EARLY, emulator.output
        asked = next_request_after(emulator, quick)
        assert since_sent(quick, asked) >= BACKGROUND_SECONDS - 0.05
        assert "BACKGROUND DONE /bg" in emulator.output
        # A 200 whose background task raises: the response stands.
        raised_after = emulator.invoke(url_event("/bg-raise"))
        assert answer(raised_after) == (200, b"answered")
        assert answer(emulator.invoke(url_event("/ok"))) == (200, f"ok {TOKEN} 2".encode())
        # Logged before the runtime asked for the invocation after it.
        assert "LookupError: background failure" in emulator.output
