"""``Mangum``: the Lambda entry point that runs an ASGI application."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterable, Sequence
from time import perf_counter
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._environment import PROCESS, Environment
from ._exceptions import (
    ConfigurationError,
    InvalidRequest,
    PassThroughFailed,
    UnexpectedMessage,
)
from ._http import HTTPCycle, StreamingHTTPCycle, cut_after_response, error_response
from ._loop import make_runtime
from ._sources import SourceConfig, Sources
from ._sources._base import ResultTooLarge

if TYPE_CHECKING:
    from ._types import (
        ASGIApp,
        EventSource,
        Headers,
        LambdaConfig,
        LambdaContext,
        LambdaResult,
        ResponseStream,
    )

logger = logging.getLogger("mangum_like")
# One INFO line per request, "GET /path 200 1.2ms", as Mangum logs "GET /path 200".
access_logger = logging.getLogger("mangum_like.http")
_INFO = logging.INFO

_LIFESPAN_MODES = ("auto", "on", "off")
# A remaining time beyond this (about 30 years) means no deadline to guard.
_FAR_MS = 10**12
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

    def __call__(self, event: Any, context: LambdaContext) -> LambdaResult:
        """Handle one Lambda invocation: event in, the source's result shape out."""
        environment = self._environment
        if not environment.started:
            environment.startup(invocation=True)
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
        scope["state"] = environment.state.copy()
        cycle = HTTPCycle(body)
        # The deadline guard: one look at the clock Lambda gives (the runtime keeps the timer).
        # The common case inline; anything else (a mock context) in _budget.
        budget = None
        if self.timeout_margin is not None:
            try:
                remaining = context.get_remaining_time_in_millis()
            except Exception:
                remaining = None
            if remaining.__class__ is int and 0 < remaining < _FAR_MS:
                budget = remaining / 1000 - self.timeout_margin
                if budget < 0.0:
                    budget = 0.0
            else:
                budget = self._budget(remaining)
        environment.current = cycle
        try:
            environment.runtime.run_app(self.app, scope, cycle, budget, environment.grace)
        except Exception:
            status, headers, response_body = cycle.outcome(scope, raised=True)
        else:
            if not cycle.expired:
                status, headers, response_body = cycle.outcome(scope, raised=False)
            elif not cycle.complete:
                status, headers, response_body = self._timed_out(scope, context, budget)
            else:
                cut_after_response(scope, cycle)
                status, headers, response_body = cycle.outcome(scope, raised=False)
        finally:
            environment.current = None
            if environment.terminating is not None:
                PROCESS.terminate(*environment.terminating)
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

    def _budget(self, remaining: Any) -> float | None:
        """Seconds the app may run: the remaining time read from the context, less the margin.

        ``None`` (no deadline) when the context cannot tell: unit tests call handlers with
        ``MagicMock()``, ``Mock()`` or stubs whose method raises, and Lambda's own contexts
        always answer an ``int``.
        """
        margin = self.timeout_margin
        if margin is None:
            return None
        if isinstance(remaining, (int, float)) and not isinstance(remaining, bool):
            if remaining < _FAR_MS:  # NaN is not: no deadline
                return max(remaining / 1000 - margin, 0.0)
            if remaining == remaining:
                return None  # decades away, beyond what a timer or a thread wait accepts
        if not self._no_deadline_logged:
            self._no_deadline_logged = True
            logger.debug(
                "The Lambda context's get_remaining_time_in_millis() gave no number (%s); "
                "the deadline guard is off for such invocations",
                type(remaining).__name__ if remaining is not None else "it could not be read",
            )
        return None

    def _timed_out(
        self, scope: Any, context: Any, budget: float | None, streamed: bool = False
    ) -> tuple[int, Any, bytes]:
        if self._environment.terminating is not None:
            reason = "the execution environment is ending (SIGTERM)"
        else:
            try:
                left = f"{context.get_remaining_time_in_millis()} ms"
            except Exception:
                left = "shortly"
            reason = (
                f"{budget * 1000 if budget else 0:.0f} ms into the invocation, "
                f"{left} before the Lambda deadline (timeout_margin={self.timeout_margin} s)"
            )
        logger.error(
            "%s %s was cut short %s: the app was sent http.disconnect, then cancelled; %s",
            scope.get("method"),
            scope.get("path"),
            reason,
            "the stream it had started was cut off (its status and headers had gone out)"
            if streamed
            else "answering 504",
        )
        return error_response(504, "Gateway Timeout")

    @staticmethod
    def _error(
        source: EventSource, event: Any, context: LambdaContext, status: int, text: str
    ) -> LambdaResult:
        return source.response(event, context, *error_response(status, text))

    # -- response streaming -----------------------------------------------------------------------

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
        environment = self._environment
        if not environment.started:
            environment.startup(invocation=True)
        source = self._sources.detect(event, context)
        prelude = getattr(source, "stream_prelude", None)
        if prelude is None:
            return self(event, context)
        # The access line costs nothing unless INFO is enabled for it (checked once).
        timed = access_logger.isEnabledFor(_INFO)
        start = perf_counter() if timed else 0.0
        try:
            scope, body = source.request(event, context)
        except InvalidRequest as exc:
            logger.warning("Bad request from %s: %s; answering 400", source.name, exc)
            _stream_error(stream, prelude, event, context, 400, f"Bad Request: {exc}")
            return None
        except Exception:
            logger.exception("Malformed %s event; answering 400", source.name)
            _stream_error(stream, prelude, event, context, 400, "Bad Request: malformed event")
            return None
        scope["state"] = environment.state.copy()

        def head(status: int, headers: Headers) -> bytes:
            return _prelude_bytes(prelude(event, context, status, headers))

        cycle = StreamingHTTPCycle(body, stream, head, scope.get("method") == "HEAD")
        watch = getattr(stream, "watch", None)
        if watch is not None:  # the stream can tell when its client leaves (mangum-like serve)
            runtime = environment.runtime
            watch(lambda: runtime.call_soon_threadsafe(cycle.client_gone))
        budget = None
        if self.timeout_margin is not None:
            try:
                remaining = context.get_remaining_time_in_millis()
            except Exception:
                remaining = None
            budget = self._budget(remaining)
        environment.current = cycle
        try:
            environment.runtime.run_app(self.app, scope, cycle, budget, environment.grace)
        except Exception as exc:
            if cycle.complete or cycle.write_failed:
                logger.exception(
                    "Exception in the app serving %s %s (%s)",
                    scope.get("method"),
                    scope.get("path"),
                    "the client had gone away"
                    if cycle.write_failed
                    else f"raised after it had sent its {cycle.status} response, which the "
                    "client got",
                )
            elif cycle.started:
                logger.exception(
                    "The app raised while streaming the response to %s %s; ending the stream "
                    "as failed",
                    scope.get("method"),
                    scope.get("path"),
                )
                _fail(stream, exc)
            else:
                logger.exception(
                    "The app raised before starting the response to %s %s; answering 500",
                    scope.get("method"),
                    scope.get("path"),
                )
                _stream_error(stream, prelude, event, context, 500, "Internal Server Error")
        else:
            if cycle.complete or cycle.write_failed:
                if cycle.expired and cycle.complete:
                    cut_after_response(scope, cycle)
            elif cycle.expired:
                self._timed_out(scope, context, budget, streamed=cycle.started)
                if cycle.started:
                    _fail(stream, TimeoutError("the request was cut short by the deadline guard"))
                else:
                    cycle.status = 504
                    _stream_error(stream, prelude, event, context, 504, "Gateway Timeout")
            else:
                logger.error(
                    "The app returned without completing a response to %s %s; %s",
                    scope.get("method"),
                    scope.get("path"),
                    "ending the stream as failed" if cycle.started else "answering 500",
                )
                if cycle.started:
                    _fail(stream, UnexpectedMessage("the app returned before completing it"))
                else:
                    _stream_error(stream, prelude, event, context, 500, "Internal Server Error")
        finally:
            environment.current = None
            if timed:
                access_logger.info(
                    "%s %s %d %.1fms (streamed)",
                    scope.get("method"),
                    scope.get("path"),
                    cycle.status,
                    (perf_counter() - start) * 1000,
                )
            if environment.terminating is not None:
                PROCESS.terminate(*environment.terminating)
        return None


def _stream_error(
    stream: ResponseStream,
    prelude: Any,
    event: Any,
    context: LambdaContext,
    status: int,
    text: str,
) -> None:
    status, headers, body = error_response(status, text)
    try:
        stream.start(_prelude_bytes(prelude(event, context, status, headers)))
        stream.write(body)
        stream.end()
    except OSError as exc:
        logger.warning("The response stream was lost (%s)", exc)


def _prelude_bytes(metadata: dict[str, Any]) -> bytes:
    # application/vnd.awslambda.http-integration-response: the JSON metadata, then 8 NUL bytes
    # ("Lambda proxy integration format for response streaming", API Gateway developer guide).
    # JSON escapes every NUL inside strings, so the delimiter cannot occur in the metadata.
    import json

    return json.dumps(metadata, separators=(",", ":")).encode("utf-8") + b"\0" * 8


def _fail(stream: ResponseStream, error: BaseException) -> None:
    try:
        stream.fail(error)
    except OSError as exc:
        logger.warning("The response stream was lost (%s)", exc)
