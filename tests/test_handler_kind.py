"""``handler_kind``: what a handler setting names, and how the runtime loop and the CLI run it.

A ``Mangum`` (by its type) is ``MANGUM``; an ASGI application (a coroutine function, an object
whose ``__call__`` is one, a callable of exactly three required positional parameters) is
``APP``; any other callable, whatever it wraps, is ``HANDLER``, called as Lambda calls it;
anything else is a ``TypeError``. ``mangum_like.runtime.make_handler`` and the CLI's
``Function`` follow the same rule. A ``Mangum`` also looks like a function to decorators.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest
import wrapt
from aws_lambda_powertools import Logger
from fastapi import FastAPI
from starlette.applications import Starlette

from mangum_like import Mangum
from mangum_like._cli._function import Function
from mangum_like._lambda.errors import HANDLER_NOT_FOUND, FaultError
from mangum_like._lambda.handler import APP, HANDLER, MANGUM, handler_kind
from mangum_like._types import Receive, Scope, Send
from mangum_like.runtime import make_handler as runtime_make_handler
from tests.example_events import http_api
from tests.helpers import Recorder
from tests.lambda_apps import errors_app

MakeHandler = Callable[..., Mangum]
ROOT = Path(__file__).resolve().parent.parent


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    await Recorder()(scope, receive, send)


class AsyncCallable:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await Recorder()(scope, receive, send)


class SyncThreeArguments:
    """A callable instance whose own ``__call__`` takes the three ASGI arguments."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Any:
        return asgi_app(scope, receive, send)


def three_required(scope: Scope, receive: Receive, send: Send) -> Any:
    """A sync function of exactly three required positional parameters: an ASGI app's shape."""
    return asgi_app(scope, receive, send)


def two_required_and_a_default(event: Any, context: Any, extra: int = 0) -> Any:
    return {"statusCode": 204}


def plain_handler(event: Any, context: Any) -> Any:
    return {"statusCode": 204}


class CallableHandler:
    def __call__(self, event: Any, context: Any) -> Any:
        return {"statusCode": 204}


def decorated(target: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    @functools.wraps(target)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return target(*args, **kwargs)

    return wrapper


def passing_through(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
    return wrapped(*args, **kwargs)


def wrapt_proxy(mangum: Mangum) -> Any:
    return wrapt.FunctionWrapper(mangum, passing_through)


# -- handler_kind -------------------------------------------------------------------------------


def test_a_mangum_is_mangum(make_handler: MakeHandler) -> None:
    assert handler_kind(make_handler(asgi_app)) == MANGUM

    class Subclass(Mangum):
        pass

    sub = Subclass(asgi_app)
    try:
        assert handler_kind(sub) == MANGUM
    finally:
        sub.shutdown()


@pytest.mark.parametrize(
    "build",
    [
        lambda mangum: decorated(mangum),
        lambda mangum: wrapt_proxy(mangum),
        lambda mangum: Logger(service="kinds").inject_lambda_context(mangum),
        lambda mangum: plain_handler,
        lambda mangum: CallableHandler(),
        lambda mangum: two_required_and_a_default,
        lambda mangum: lambda event, context: mangum(event, context),
    ],
    ids=[
        "functools.wraps",
        "wrapt-proxy",
        "powertools-logger",
        "plain-def",
        "callable-instance",
        "two-required-one-default",
        "lambda",
    ],
)
def test_handlers(make_handler: MakeHandler, build: Callable[[Mangum], Any]) -> None:
    mangum = make_handler(asgi_app)
    target = build(mangum)
    assert handler_kind(target) == HANDLER


def test_a_wrapt_proxy_poses_as_a_mangum_and_is_still_a_handler(make_handler: MakeHandler) -> None:
    mangum = make_handler(asgi_app)
    proxy = wrapt_proxy(mangum)
    assert isinstance(proxy, Mangum)
    assert handler_kind(proxy) == HANDLER
    # Called as it is, it answers through the Mangum inside.
    assert proxy(http_api("GET", "/"), MagicMock())["statusCode"] == 200


@pytest.mark.parametrize(
    "target",
    [
        asgi_app,
        Starlette(),
        FastAPI(),
        AsyncCallable(),
        SyncThreeArguments(),
        three_required,
    ],
    ids=["async-def", "starlette", "fastapi", "async-call", "sync-call-3", "sync-def-3"],
)
def test_apps(target: Any) -> None:
    assert handler_kind(target) == APP


@pytest.mark.parametrize("target", [42, None, "module.handler", object(), [asgi_app]])
def test_not_callable(target: Any) -> None:
    with pytest.raises(TypeError, match="is not callable"):
        handler_kind(target)


# -- the runtime loop's make_handler ------------------------------------------------------------


def test_make_handler_wraps_only_an_app(make_handler: MakeHandler) -> None:
    made = runtime_make_handler(asgi_app)
    assert isinstance(made, Mangum)
    try:
        assert type(made) is Mangum
        assert made.app is asgi_app
    finally:
        made.shutdown()
    mangum = make_handler(asgi_app)
    for target in (mangum, decorated(mangum), wrapt_proxy(mangum), plain_handler):
        assert runtime_make_handler(target) is target


@pytest.mark.parametrize("target", [42, None, "handler"])
def test_make_handler_refuses_what_is_not_callable(target: Any) -> None:
    with pytest.raises(FaultError) as caught:
        runtime_make_handler(target)
    assert caught.value.error_type == HANDLER_NOT_FOUND
    assert "is not callable" in caught.value.message


# -- the CLI's Function -------------------------------------------------------------------------


def test_cli_function_agrees(make_handler: MakeHandler) -> None:
    mangum = make_handler(asgi_app)
    own = Function(mangum, base_path=None, backend=None)
    assert own.mangum is mangum
    assert own.handler is mangum
    wrapped = Function(asgi_app, base_path=None, backend=None)
    try:
        assert isinstance(wrapped.mangum, Mangum)
        assert wrapped.mangum.app is asgi_app
        assert wrapped.handler is wrapped.mangum
    finally:
        wrapped.stop()
    for target in (decorated(mangum), wrapt_proxy(mangum), plain_handler, CallableHandler()):
        function = Function(target, base_path=None, backend=None)
        assert function.mangum is None
        assert function.handler is target


def test_cli_invoke_calls_a_decorated_mangum_once() -> None:
    cli = Path(sys.executable).with_name("mangum-like")
    done = subprocess.run(
        [str(cli), "invoke", "tests.lambda_apps.decorated_mangum:handler", "--path", "/hello"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["statusCode"], result["body"]) == (200, "hello decorated-token")
    assert result["headers"]["x-decorated"] == "calls=1"
    assert done.stderr.count("DECORATOR CALLED") == 1


@pytest.mark.parametrize("option", [["--backend", "trio"], ["--base-path", "/api"]])
def test_cli_refuses_app_options_for_a_wrapped_handler(option: list[str]) -> None:
    cli = Path(sys.executable).with_name("mangum-like")
    done = subprocess.run(
        [str(cli), "invoke", "tests.lambda_apps.decorated_mangum:handler", *option],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert f"{option[0]} applies to an ASGI app" in done.stderr
    assert "DECORATOR CALLED" not in done.stderr


# -- a Mangum looks like a function to decorators -----------------------------------------------


def test_mangum_names_itself_and_the_module_that_built_it() -> None:
    handler = Mangum(asgi_app)
    try:
        assert handler.__name__ == "Mangum"
        assert handler.__qualname__ == "Mangum"
        assert handler.__module__ == __name__ == "tests.test_handler_kind"
    finally:
        handler.shutdown()
    assert errors_app.handler.__module__ == "tests.lambda_apps.errors_app"
    # The class keeps its own.
    assert (Mangum.__name__, Mangum.__module__) == ("Mangum", "mangum_like._adapter")


def test_update_wrapper_around_a_mangum() -> None:
    recorder = Recorder(body=b"through the wrapper")
    mangum = Mangum(recorder)
    try:

        def wrapper(event: Any, context: Any) -> Any:
            return mangum(event, context)

        assert functools.update_wrapper(wrapper, mangum) is wrapper
        assert wrapper.__wrapped__ is mangum
        assert (wrapper.__name__, wrapper.__qualname__) == ("Mangum", "Mangum")
        assert wrapper.__module__ == __name__
        assert handler_kind(wrapper) == HANDLER
        result = wrapper(http_api("GET", "/w"), MagicMock())
        assert (result["statusCode"], result["body"]) == (200, "through the wrapper")
        assert recorder.scope["path"] == "/w"
    finally:
        mangum.shutdown()
