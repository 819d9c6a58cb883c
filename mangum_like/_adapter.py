"""``Mangum``: the Lambda entry point that runs an ASGI application."""

from __future__ import annotations

import os
import sys
import weakref
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._environment import PROCESS, Environment
from ._exceptions import ConfigurationError
from ._invocation import Streamed, invoke
from ._loop import make_runtime
from ._sources import SourceConfig, Sources

if TYPE_CHECKING:
    from ._types import (
        ASGIApp,
        LambdaConfig,
        LambdaContext,
        LambdaResult,
        ResponseStream,
    )

_LIFESPAN_MODES = ("auto", "on", "off")
_BACKENDS = ("asyncio", "trio")
# What Mangum 0.22 hands its handlers as config["text_mime_types"] by default: substrings of
# the content type. Custom handlers written for Mangum decide text versus base64 with it.
_MANGUM_TEXT_MIME_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/vnd.api+json",
    "application/vnd.oai.openapi",
)


def _names(value: Iterable[str] | None, option: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or not all(isinstance(item, str) for item in value):
        raise ConfigurationError(f"{option} must be a list of strings, got {value!r}")
    return list(value)


def _timeout(value: float | None, option: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigurationError(
            f"{option} must be a positive number of seconds or None, got {value!r}"
        )
    return float(value)


LAMBDA_ERRORS_ENV = "MANGUM_LIKE_LAMBDA_ERRORS"
_OFF = ("", "0", "false", "off", "no")
_ON = ("1", "true", "on", "yes")


def _lambda_errors(value: bool | Iterable[int] | None) -> frozenset[int] | None:
    """The statuses that fail an invocation (an exception always does), or ``None`` for off.

    ``None`` reads ``MANGUM_LIKE_LAMBDA_ERRORS``: unset or ``false`` is off, ``true`` turns
    exceptions into Lambda errors, a list such as ``500,502-504`` adds those statuses.
    """
    if value is None:
        given = os.environ.get(LAMBDA_ERRORS_ENV, "")
        raw = given.strip().lower()
        if raw in _OFF:
            return None
        if raw in _ON:
            return frozenset()
        statuses: set[int] = set()
        for part in raw.split(","):
            low, dash, high = (piece.strip() for piece in part.partition("-"))
            if not (low.isdigit() and (high.isdigit() if dash else True)):
                break
            first, last = int(low), int(high) if dash else int(low)
            if not 100 <= first <= last <= 599:
                break
            statuses.update(range(first, last + 1))
        else:
            return frozenset(statuses)
        raise ConfigurationError(
            f"{LAMBDA_ERRORS_ENV} must be true or false (1, 0, on, off, yes, no), or a list of "
            f"HTTP statuses and ranges such as 500,502-504, got {given!r}"
        )
    if value is False:
        return None
    if value is True:
        return frozenset()
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"lambda_errors must be True, False or a list of HTTP statuses, got {value!r}"
        )
    codes = list(value)
    if not all(
        isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
        for code in codes
    ):
        raise ConfigurationError(
            f"lambda_errors must be True, False or a list of HTTP statuses (100-599), got {value!r}"
        )
    return frozenset(codes)


def _installed(module: str) -> bool:
    import importlib.util  # only for this check: keeps "import mangum_like" light

    return importlib.util.find_spec(module) is not None


class Mangum:
    """Run an ASGI application as an AWS Lambda function handler.

    ``handler = Mangum(app)`` at module level; Lambda then calls ``handler(event, context)``
    for each invocation. The app's lifespan starts once, at the first invocation of the
    execution environment (or on ``startup()``), and shuts down once: on SIGTERM at the end of
    the environment, at interpreter exit, or on ``shutdown()``. One event loop serves every
    invocation of the environment.

    Args:
        app: the ASGI 3 application.
        lifespan: ``"auto"`` runs the lifespan if the app supports it; ``"on"`` requires it;
            ``"off"`` never sends lifespan events.
        api_gateway_base_path: the base path of a custom-domain API mapping (``"/api"``),
            reported to the app as ``root_path``.
        custom_handlers: Mangum-compatible handler classes, tried before the built-in sources.
        text_mime_types: extra content types whose bodies are returned as text, not base64.
        exclude_headers: response header names to drop (case-insensitive), for every source.
        backend: ``"asyncio"`` or ``"trio"``.
        pass_through_path: an app route (``"/events"``) to which events of no HTTP source (SQS,
            SNS, S3, EventBridge, ...) are POSTed as JSON; the app's JSON answer is the Lambda
            result. ``None`` (default): such events raise ``UnsupportedEvent``.
        timeout_margin: seconds before the Lambda deadline at which a request still running is
            given up: the app sees ``http.disconnect``, is cancelled, and the client gets a 504,
            so that the environment stays warm. ``None`` turns the guard off.
        graceful_shutdown: inside Lambda, register a no-op internal extension so that Lambda
            sends SIGTERM at the end of the environment, which runs lifespan shutdown. Turn it
            off when another extension is registered already.
        startup_timeout: seconds lifespan startup may take; ``None`` for no limit.
        shutdown_timeout: seconds lifespan shutdown may take before it is cancelled.
        lambda_errors: ``True`` makes an unhandled app exception fail the invocation as a Lambda
            function error (``InvocationFailed``) instead of answering 500, so that the
            function's Errors metric, alarms and the retries of asynchronous invocations see
            it; a list of statuses (``[500, 502, 503]``) makes those answers fail it too.
            ``False``: answer them as the app does. ``None`` (default): the
            ``MANGUM_LIKE_LAMBDA_ERRORS`` environment variable (``true``, ``500,502-504``), off
            when unset.
    """

    def __init__(
        self,
        app: ASGIApp,
        lifespan: str = "auto",
        api_gateway_base_path: str = "/",
        custom_handlers: Sequence[Any] | None = None,
        text_mime_types: Iterable[str] | None = None,
        exclude_headers: Iterable[str] | None = None,
        *,
        backend: str = "asyncio",
        pass_through_path: str | None = None,
        timeout_margin: float | None = 0.5,
        graceful_shutdown: bool = True,
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = 0.4,
        lambda_errors: bool | Iterable[int] | None = None,
    ) -> None:
        if not callable(app):
            raise ConfigurationError(f"app must be an ASGI application (a callable), got {app!r}")
        if lifespan not in _LIFESPAN_MODES:
            raise ConfigurationError(
                f"lifespan must be one of {', '.join(map(repr, _LIFESPAN_MODES))}, got {lifespan!r}"
            )
        if not isinstance(api_gateway_base_path, str):
            raise ConfigurationError(
                f"api_gateway_base_path must be a string such as '/api', "
                f"got {api_gateway_base_path!r}"
            )
        if backend not in _BACKENDS:
            raise ConfigurationError(
                f"backend must be one of {', '.join(map(repr, _BACKENDS))}, got {backend!r}"
            )
        if backend == "trio" and not _installed("trio"):
            raise ConfigurationError("backend='trio' needs trio installed: pip install trio")
        handlers = list(custom_handlers or ())
        for handler in handlers:
            if not callable(getattr(handler, "infer", None)):
                raise ConfigurationError(
                    f"custom_handlers entries must be handler classes with an infer() "
                    f"classmethod, got {handler!r}"
                )
        if not isinstance(graceful_shutdown, bool):
            raise ConfigurationError(
                f"graceful_shutdown must be True or False, got {graceful_shutdown!r}"
            )
        if pass_through_path is not None and not (
            isinstance(pass_through_path, str) and pass_through_path.startswith("/")
        ):
            raise ConfigurationError(
                f"pass_through_path must be None or an app path such as '/events', "
                f"got {pass_through_path!r}"
            )
        text_types = _names(text_mime_types, "text_mime_types")
        excluded = _names(exclude_headers, "exclude_headers")

        self.app = app
        self.lifespan = lifespan
        self.backend = backend
        self.pass_through_path = pass_through_path
        self.startup_timeout = _timeout(startup_timeout, "startup_timeout")
        self.shutdown_timeout = _timeout(shutdown_timeout, "shutdown_timeout")
        self.config: LambdaConfig = {
            "api_gateway_base_path": api_gateway_base_path,
            "text_mime_types": [*_MANGUM_TEXT_MIME_TYPES, *text_types],
            "exclude_headers": [name.lower() for name in excluded],
        }
        self._sources = Sources(
            SourceConfig(api_gateway_base_path, text_types, excluded),
            handlers,
            self.config,
            pass_through_path,
        )
        self._lambda_errors = _lambda_errors(lambda_errors)
        self.lambda_errors = lambda_errors
        # What decorators read of the function they wrap (functools.update_wrapper, Powertools'
        # Tracer, Sentry's serverless_function): a handler looks like one. Its module is the one
        # that built it, as for a function defined there.
        self.__name__ = self.__qualname__ = "Mangum"
        self.__module__ = sys._getframe(1).f_globals.get("__name__", __name__)
        self.timeout_margin = _timeout(timeout_margin, "timeout_margin")
        self.graceful_shutdown = graceful_shutdown
        self._no_deadline_logged = False
        # A request cut short by the deadline guard gets half the margin to end after its
        # disconnect; the other half is left to answer 504 before Lambda's own timeout.
        grace = (self.timeout_margin or 0.5) / 2
        self._environment = environment = Environment(
            app, lifespan, make_runtime(backend), self.startup_timeout, self.shutdown_timeout, grace
        )
        # A handler dropped without shutdown() releases its loop and thread when collected.
        # (Not at interpreter exit: the atexit hook runs the full shutdown then.)
        weakref.finalize(self, environment.release).atexit = False
        PROCESS.prepare(graceful_shutdown)

    # -- lifecycle ------------------------------------------------------------------------------

    def startup(self) -> None:
        """Start the app's lifespan now (otherwise the first invocation does); idempotent.

        Called at module level, it runs during Lambda's Init phase. Under SnapStart it waits for
        the restore. Raises ``LifespanFailure`` when startup fails; the next call tries again.
        """
        self._environment.startup()

    def shutdown(self) -> None:
        """Run the app's lifespan shutdown (bounded by ``shutdown_timeout``) and close the loop."""
        self._environment.shutdown()

    @property
    def state(self) -> dict[str, Any]:
        """The lifespan ``state`` of the running environment (empty before startup)."""
        return self._environment.state

    def __enter__(self) -> Mangum:
        self.startup()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.shutdown()

    # -- invocation -----------------------------------------------------------------------------

    if TYPE_CHECKING:

        def __call__(self, event: Any, context: LambdaContext) -> LambdaResult:
            """Handle one Lambda invocation: event in, the source's result shape out."""
            ...

    else:
        # The pipeline's function itself, not a method that calls it: a call saved on every
        # invocation.
        __call__ = invoke

    def stream(
        self, event: Any, context: LambdaContext, stream: ResponseStream
    ) -> LambdaResult | None:
        """Handle one invocation, writing the response to ``stream`` as the app sends it.

        For Lambda response streaming (Function URL ``RESPONSE_STREAM``, API Gateway response
        transfer mode ``STREAM``): the source's prelude goes out at ``http.response.start``,
        then each body chunk at once. Returns ``None`` once the response went to ``stream``;
        for an event of a source that cannot stream (ALB, custom handlers), the buffered
        result, exactly as ``handler(event, context)`` gives it.
        """
        return invoke(self, event, context, Streamed(stream))
