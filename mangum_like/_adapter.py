"""``Mangum``: the Lambda entry point that runs an ASGI application."""

from __future__ import annotations

import atexit
import logging
import weakref
from collections.abc import Iterable, Sequence
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._exceptions import (
    ConfigurationError,
    InvalidRequest,
    LifespanFailure,
    LifespanUnsupported,
    PassThroughFailed,
)
from ._http import HTTPCycle, error_response
from ._lifespan import COMPLETE, UNSUPPORTED, LifespanCycle
from ._runtime import make_runtime
from ._sources import SourceConfig, Sources
from ._sources._base import ResultTooLarge

if TYPE_CHECKING:
    from ._types import ASGIApp, EventSource, LambdaConfig, LambdaContext, LambdaResult, Runtime

logger = logging.getLogger("mangum_like")
# One INFO line per request, "GET /path 200 1.2ms", as Mangum logs "GET /path 200".
access_logger = logging.getLogger("mangum_like.http")
_INFO = logging.INFO

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


def _installed(module: str) -> bool:
    import importlib.util  # only for this check: keeps "import mangum_like" light

    return importlib.util.find_spec(module) is not None


class Mangum:
    """Run an ASGI application as an AWS Lambda function handler.

    ``handler = Mangum(app)`` at module level; Lambda then calls ``handler(event, context)``
    for each invocation. The app's lifespan starts once, at the first invocation of the
    execution environment (or on ``startup()``), and shuts down once, at interpreter exit or
    on ``shutdown()``. One event loop serves every invocation of the environment.

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
        startup_timeout: seconds lifespan startup may take; ``None`` for no limit.
        shutdown_timeout: seconds lifespan shutdown may take before it is cancelled.
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
        startup_timeout: float | None = None,
        shutdown_timeout: float | None = 0.4,
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
        self._runtime: Runtime = make_runtime(backend)
        self._started = False
        self._state: dict[str, Any] = {}
        self._cycle: LifespanCycle | None = None
        self._task: Any = None
        self._at_exit: Any = None

    # -- lifecycle ------------------------------------------------------------------------------

    def startup(self) -> None:
        """Start the app's lifespan now (otherwise the first invocation does); idempotent.

        Raises ``LifespanFailure`` when startup fails; the next call tries again.
        """
        if self._started:
            return
        self._register_exit()
        if self.lifespan == "off":
            self._started = True
            return
        runtime = self._runtime
        state: dict[str, Any] = {}
        cycle = LifespanCycle(self.app, state, runtime)
        task = runtime.spawn(cycle.main)
        if not runtime.run(cycle.wait_started, self.startup_timeout):
            runtime.cancel(task)
            raise LifespanFailure(
                f"lifespan startup did not complete within {self.startup_timeout} s "
                "(startup_timeout); the next invocation tries again"
            )
        if cycle.outcome == COMPLETE:
            self._state, self._cycle, self._task = state, cycle, task
            self._started = True
            return
        if cycle.outcome == UNSUPPORTED and self.lifespan == "auto":
            logger.info(
                "The app does not support the ASGI lifespan protocol (%s); carrying on without "
                "it. Pass lifespan='off' to skip the attempt.",
                cycle.error or cycle.message,
            )
            self._started = True
            return
        if not cycle.finished:
            runtime.cancel(task)
        if cycle.outcome == UNSUPPORTED:
            raise LifespanUnsupported(
                "lifespan='on' but the app does not support the ASGI lifespan protocol "
                f"({cycle.error or cycle.message}); use lifespan='auto' or 'off'"
            ) from cycle.error
        raise LifespanFailure(
            f"lifespan startup failed: {cycle.message or repr(cycle.error)}; "
            "the next invocation tries again"
        ) from cycle.error

    def shutdown(self) -> None:
        """Run the app's lifespan shutdown (bounded by ``shutdown_timeout``) and close the loop."""
        if self._at_exit is not None:
            atexit.unregister(self._at_exit)
            self._at_exit = None
        cycle, self._cycle = self._cycle, None
        runtime = self._runtime
        if cycle is not None:
            if not runtime.run(cycle.stop, self.shutdown_timeout):
                logger.warning(
                    "lifespan shutdown did not complete within %s s (shutdown_timeout); "
                    "cancelling it",
                    self.shutdown_timeout,
                )
            elif cycle.shutdown_outcome != COMPLETE:
                logger.error(
                    "lifespan shutdown failed: %s",
                    cycle.message
                    or (
                        repr(cycle.error) if cycle.error else "the app returned without completing"
                    ),
                    exc_info=cycle.error,
                )
        self._started = False
        self._state = {}
        self._task = None
        runtime.close()

    def _register_exit(self) -> None:
        if self._at_exit is not None:
            return
        ref = weakref.ref(self)

        def at_exit() -> None:
            handler = ref()
            if handler is not None:
                handler.shutdown()

        self._at_exit = at_exit
        atexit.register(at_exit)

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

    def __call__(self, event: Any, context: LambdaContext) -> LambdaResult:
        """Handle one Lambda invocation: event in, the source's result shape out."""
        if not self._started:
            self.startup()
        # The access line costs nothing unless INFO is enabled for it (checked once).
        timed = access_logger.isEnabledFor(_INFO)
        start = perf_counter() if timed else 0.0
        source = self._sources.detect(event, context)
        try:
            scope, body = source.request(event, context)
        except InvalidRequest as exc:
            logger.warning("Bad request from %s: %s; answering 400", source.name, exc)
            return self._error(source, event, context, 400, f"Bad Request: {exc}")
        except Exception:
            logger.exception("Malformed %s event; answering 400", source.name)
            return self._error(source, event, context, 400, "Bad Request: malformed event")
        scope["state"] = self._state.copy()
        cycle = HTTPCycle(body)
        try:
            self._runtime.run_app(self.app, scope, cycle.receive, cycle.send)
        except Exception:
            status, headers, response_body = cycle.outcome(scope, raised=True)
        else:
            status, headers, response_body = cycle.outcome(scope, raised=False)
        if scope.get("method") == "HEAD":
            response_body = b""
        try:
            result = source.response(event, context, status, headers, response_body)
        except ResultTooLarge as exc:
            logger.error(
                "The response to %s %s is %d bytes once mapped, over the %d-byte limit of %s "
                "for the result; answering 502",
                scope.get("method"),
                scope.get("path"),
                exc.size,
                exc.limit,
                exc.where,
            )
            status = 502
            result = self._error(
                source, event, context, 502, f"Bad Gateway: response too large for {exc.where}"
            )
        except PassThroughFailed:
            raise  # fails the invocation: Lambda retries the event
        except Exception:
            logger.exception("The app's response could not be mapped; answering 500")
            status = 500
            result = self._error(source, event, context, 500, "Internal Server Error")
        if timed:
            access_logger.info(
                "%s %s %d %.1fms",
                scope.get("method"),
                scope.get("path"),
                status,
                (perf_counter() - start) * 1000,
            )
        return result

    @staticmethod
    def _error(
        source: EventSource, event: Any, context: LambdaContext, status: int, text: str
    ) -> LambdaResult:
        return source.response(event, context, *error_response(status, text))
