"""One invocation: detect the source -> request -> the app -> a response sink.

Every way into the app goes through ``invoke``; only the sink differs:

- none (the buffered result): ``handler(event, context)`` returns the source's result once the
  app has returned.
- ``Streamed``: ``handler.stream(...)`` writes the source's prelude at ``http.response.start``,
  then each body chunk as the app sends it.
- ``Early``: the runtime loop and ``mangum-like serve`` hand the result over the moment the app
  sends its last body message, while the app goes on (BackgroundTasks, code after the last
  ``send``); the invocation ends when the app returns.
- ``Handoff``: the runtime loop calls a wrapper around a Mangum (Powertools, Sentry,
  OpenTelemetry, a function of the user's); the Mangum called inside returns its result to the
  wrapper at the same moment, and the app goes on in a thread of the handoff's.

The 400 / 500 / 502 / 504 answers, the access line, the deadline budget and the SIGTERM hand-off
are written here once, for every sink.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextvars import ContextVar, copy_context
from time import monotonic as _clock
from typing import TYPE_CHECKING, Any

from ._environment import PROCESS
from ._exceptions import InvalidRequest, InvocationFailed, PassThroughFailed, UnexpectedMessage
from ._http import (
    EarlyHTTPCycle,
    HTTPCycle,
    StreamingHTTPCycle,
    cut_after_response,
    error_response,
)
from ._lambda.stream import prelude_bytes
from ._sources._base import ResultTooLarge

if TYPE_CHECKING:
    from ._adapter import Mangum
    from ._types import (
        EventSource,
        Headers,
        LambdaContext,
        LambdaResult,
        ResponseStream,
        Runtime,
        Scope,
    )

logger = logging.getLogger("mangum_like")
# One INFO line per request, "GET /path 200 1.2ms", as Mangum logs "GET /path 200".
access_logger = logging.getLogger("mangum_like.http")
_INFO = logging.INFO
_COMPLETE = HTTPCycle.COMPLETE
# A remaining time beyond this (about 30 years) means no deadline to guard.
_FAR_MS = 10**12


def invoke(
    handler: Mangum, event: Any, context: LambdaContext, sink: Sink | None = None
) -> LambdaResult | None:
    """Run one invocation through ``handler``'s app; ``Mangum.__call__`` is this function.

    Without a sink, returns the source's result. With one, the response goes to the sink and
    ``None`` is returned, unless the sink refuses the source (a source that cannot stream): then
    the response goes to the sink's ``instead``, or, when it has none, the buffered result is
    returned, exactly as ``handler(event, context)`` gives it.
    """
    if sink is None and _handoffs:
        handoff = _current_handoff()
        if handoff is not None:  # called by a wrapper the runtime loop called
            return handoff.run(handler, event, context)
    environment = handler._environment
    if not environment.started:
        environment.startup(invocation=True)
    # The access line costs nothing unless INFO is enabled for it (checked once).
    timed = access_logger.isEnabledFor(_INFO)
    start = _clock() if timed else 0.0
    source = handler._sources.detect(event, context)
    if sink is not None and not sink.open(source, event, context):
        sink = sink.instead  # a source that cannot stream: its result as a whole
        if sink is not None:
            sink.open(source, event, context)
    try:
        scope, body = source.request(event, context)
    except InvalidRequest as exc:
        logger.warning("Bad request from %s: %s; answering 400", source.name, exc)
        return _answer(source, event, context, {}, sink, 400, f"Bad Request: {exc}")[1]
    except Exception:
        logger.exception("Malformed %s event; answering 400", source.name)
        return _answer(source, event, context, {}, sink, 400, "Bad Request: malformed event")[1]
    scope["state"] = environment.state.copy()
    failing = handler._lambda_errors
    if sink is not None and failing is not None:
        sink.fails_on(failing)
    cycle = HTTPCycle(body) if sink is None else sink.cycle(body, scope, environment.runtime)
    # The deadline guard: one look at the clock Lambda gives (the runtime keeps the timer).
    # The common case inline; anything else (a mock context) in budget().
    margin = handler.timeout_margin
    seconds = None
    if margin is not None:
        try:
            remaining = context.get_remaining_time_in_millis()
        except Exception:
            remaining = None
        if remaining.__class__ is int and 0 < remaining < _FAR_MS:
            seconds = remaining / 1000 - margin
            if seconds < 0.0:
                seconds = 0.0
        else:
            seconds = budget(handler, remaining)
    error = None
    try:
        environment.runtime.run_app(handler.app, scope, cycle, seconds, environment.grace)
    except Exception as exc:
        error = exc
    finally:
        # SIGTERM came during the invocation: shutdown follows the last one in flight.
        if environment.terminating is not None and not environment.in_flight:
            PROCESS.terminate_once(*environment.terminating)
    if cycle.state == _COMPLETE:
        if error is not None:
            # Starlette's error middleware sends its 500 and then re-raises: this is the app's
            # own exception, and the response it sent is what the client gets.
            _in_app_context(
                cycle,
                logger.error,
                "Exception in the app serving %s %s (raised after it had sent its %d response, "
                "which the client %s)",
                scope.get("method"),
                scope.get("path"),
                cycle.status,
                "gets" if sink is None else "got",
                exc_info=error,
            )
        if cycle.expired:
            cut_after_response(scope, cycle, environment.terminating is not None)
        if sink is None:
            status = cycle.status
            chunks = cycle.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if scope.get("method") == "HEAD":
                body = b""
            try:  # _result(), inline: the common path saves a call
                result = source.response(event, context, status, cycle.headers, body)
            except Exception as exc:
                status, result = _unmapped(source, event, context, scope, exc)
        else:
            status, result = sink.status(cycle), None
    else:
        status, result = _unanswered(
            handler, source, event, context, scope, cycle, sink, error, seconds
        )
    if timed:
        access_logger.info(
            "%s %s %d %.1fms%s",
            scope.get("method"),
            scope.get("path"),
            status,
            (_clock() - start) * 1000,
            "" if sink is None else sink.label,
        )
    if failing is not None:
        _settle(failing, scope, context, status, error, sink)
    return result


def _settle(
    failing: frozenset[int],
    scope: Scope,
    context: LambdaContext,
    status: int,
    error: Exception | None,
    sink: Sink | None,
) -> None:
    """With ``lambda_errors``: fail the invocation when the app raised without a response of
    its own, or answered 500 and raised (Starlette's error middleware), or answered one of the
    chosen statuses; otherwise let the held result go."""
    if status in failing or (error is not None and status == 500):
        failure = InvocationFailed(
            status,
            scope.get("method"),
            scope.get("path"),
            getattr(context, "aws_request_id", None),
            error,
        )
        if error is not None:
            # The error document's stack trace is where the app raised.
            failure.__cause__ = error
            failure = failure.with_traceback(error.__traceback__)
        if sink is None:
            raise failure
        sink.settle(failure)
    elif sink is not None:
        sink.settle(None)


def _unanswered(
    handler: Mangum,
    source: EventSource,
    event: Any,
    context: LambdaContext,
    scope: Scope,
    cycle: HTTPCycle,
    sink: Sink | None,
    error: Exception | None,
    seconds: float | None,
) -> tuple[int, LambdaResult | None]:
    """The app returned or raised without completing its response: answer 500 or 504, or, when
    the sink has sent part of the response already, end it as failed."""
    method, path = scope.get("method"), scope.get("path")
    if sink is not None and sink.lost(cycle):
        if error is not None:
            _in_app_context(
                cycle,
                logger.error,
                "Exception in the app serving %s %s (the client had gone away)",
                method,
                path,
                exc_info=error,
            )
        return cycle.status, None
    started = sink is not None and sink.started(cycle)
    if error is not None:
        # An exception counts before the deadline: the app's own answer to its disconnect.
        if started:
            _in_app_context(
                cycle,
                logger.error,
                "The app raised while streaming the response to %s %s; ending the stream as failed",
                method,
                path,
                exc_info=error,
            )
        else:
            _in_app_context(
                cycle,
                logger.error,
                "The app raised before completing the response to %s %s; answering 500",
                method,
                path,
                exc_info=error,
            )
        failure: BaseException = error
        status, text = 500, "Internal Server Error"
    elif cycle.expired:
        timed_out(handler, scope, context, seconds, started)
        failure = TimeoutError("the request was cut short by the deadline guard")
        status, text = 504, "Gateway Timeout"
    else:
        logger.error(
            "The app returned without completing a response to %s %s; %s",
            method,
            path,
            "ending the stream as failed" if started else "answering 500",
        )
        failure = UnexpectedMessage("the app returned before completing its response")
        status, text = 500, "Internal Server Error"
    if started and sink is not None:
        sink.fail(failure)
        return cycle.status, None
    return _answer(source, event, context, scope, sink, status, text)


def _in_app_context(cycle: HTTPCycle, log: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Log the app's exception in the app's own context (where it raised), so that what the app
    set up to report errors, Sentry's deduplication among them, sees one exception once."""
    context = cycle.context
    if context is None:
        log(*args, **kwargs)
    else:
        context.run(log, *args, **kwargs)


def _answer(
    source: EventSource,
    event: Any,
    context: LambdaContext,
    scope: Scope,
    sink: Sink | None,
    status: int,
    text: str,
) -> tuple[int, LambdaResult | None]:
    """Answer with an error response of mangum_like's own (400, 500, 504), through the sink."""
    status, headers, body = error_response(status, text)
    if sink is None:
        return _result(source, event, context, scope, status, headers, body)
    sink.answer(scope, status, headers, body)
    return status, None


def _result(
    source: EventSource,
    event: Any,
    context: LambdaContext,
    scope: Scope,
    status: int,
    headers: Headers,
    body: bytes,
) -> tuple[int, LambdaResult]:
    """The complete response mapped to the source's result, and the status the client gets."""
    if scope.get("method") == "HEAD":
        body = b""
    try:
        return status, source.response(event, context, status, headers, body)
    except Exception as exc:
        return _unmapped(source, event, context, scope, exc)


def _unmapped(
    source: EventSource, event: Any, context: LambdaContext, scope: Scope, exc: Exception
) -> tuple[int, LambdaResult]:
    """The answer when the app's response cannot be mapped to the source's result."""
    if isinstance(exc, PassThroughFailed):
        raise exc  # fails the invocation: Lambda retries the event
    if isinstance(exc, ResultTooLarge):
        logger.error(
            "The response to %s %s is %d bytes once mapped, over the %d-byte limit of %s for "
            "the result; answering 502",
            scope.get("method"),
            scope.get("path"),
            exc.size,
            exc.limit,
            exc.where,
        )
        text = f"Bad Gateway: response too large for {exc.where}"
        return 502, source.response(event, context, *error_response(502, text))
    logger.error("The app's response could not be mapped; answering 500", exc_info=exc)
    return 500, source.response(event, context, *error_response(500, "Internal Server Error"))


# -- the deadline --------------------------------------------------------------------------------


def budget(handler: Mangum, remaining: Any) -> float | None:
    """Seconds the app may run: the remaining time read from the context, less the margin.

    ``None`` (no deadline) when the context cannot tell: unit tests call handlers with
    ``MagicMock()``, ``Mock()`` or stubs whose method raises, and Lambda's own contexts always
    answer an ``int``.
    """
    margin = handler.timeout_margin
    if margin is None:
        return None
    if isinstance(remaining, (int, float)) and not isinstance(remaining, bool):
        if remaining < _FAR_MS:  # NaN is not: no deadline
            return float(max(remaining / 1000 - margin, 0.0))
        if remaining == remaining:
            return None  # decades away, beyond what a timer or a thread wait accepts
    if not handler._no_deadline_logged:
        handler._no_deadline_logged = True
        logger.debug(
            "The Lambda context's get_remaining_time_in_millis() gave no number (%s); the "
            "deadline guard is off for such invocations",
            type(remaining).__name__ if remaining is not None else "it could not be read",
        )
    return None


def timed_out(
    handler: Mangum, scope: Scope, context: Any, seconds: float | None, streamed: bool
) -> None:
    """Log that the deadline guard cut the request short before its response was complete."""
    if handler._environment.terminating is not None:
        reason = "the execution environment is ending (SIGTERM)"
    else:
        try:
            left = f"{context.get_remaining_time_in_millis()} ms"
        except Exception:
            left = "shortly"
        reason = (
            f"{seconds * 1000 if seconds else 0:.0f} ms into the invocation, {left} before the "
            f"Lambda deadline (timeout_margin={handler.timeout_margin} s)"
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


# -- the sinks -----------------------------------------------------------------------------------


class Sink:
    """Where the response goes when it is not the buffered result ``invoke`` returns."""

    __slots__ = ()
    label = ""  # the access line's note
    instead: Sink | None = None  # where the response goes when open() refuses the source

    def open(self, source: EventSource, event: Any, context: LambdaContext) -> bool:
        """Take the invocation of ``source``; ``False``: answer it buffered instead."""
        raise NotImplementedError

    def cycle(self, body: bytes, scope: Scope, runtime: Runtime) -> HTTPCycle:
        """The receive/send pair through which the app answers into this sink."""
        raise NotImplementedError

    def answer(self, scope: Scope, status: int, headers: Headers, body: bytes) -> None:
        """Send mangum_like's own whole response (an error) when nothing has gone out yet."""
        raise NotImplementedError

    def status(self, cycle: HTTPCycle) -> int:
        """The status the client got, for the access line."""
        return cycle.status

    def started(self, cycle: HTTPCycle) -> bool:
        """Whether part of the response has gone out, so that a failure can only cut it off."""
        return False

    def lost(self, cycle: HTTPCycle) -> bool:
        """Whether the client went away before the response was complete."""
        return False

    def fail(self, error: BaseException) -> None:
        """End a started response as failed."""
        raise NotImplementedError

    def fails_on(self, statuses: frozenset[int]) -> None:
        """``lambda_errors`` is on: these statuses (and an exception) fail the invocation.

        A sink that hands the response over before the app returns holds such a response
        back until then; one that streams cannot (its status and headers have gone out)."""

    def settle(self, failure: InvocationFailed | None) -> None:
        """The app has returned: fail the invocation with ``failure``, or hand over what was
        held back for it."""


class Streamed(Sink):
    """The response written to ``stream`` as the app sends it: the prelude, then each chunk."""

    __slots__ = ("context", "event", "instead", "prelude", "stream")
    label = " (streamed)"

    def __init__(self, stream: ResponseStream, instead: Sink | None = None) -> None:
        self.stream = stream
        # For a source that cannot stream: None, the buffered result returned; or another sink.
        self.instead = instead
        self.prelude: Any = None
        self.event: Any = None
        self.context: Any = None

    def open(self, source: EventSource, event: Any, context: LambdaContext) -> bool:
        prelude = getattr(source, "stream_prelude", None)
        if prelude is None:
            return False  # ALB, custom handlers: the buffered result
        self.prelude, self.event, self.context = prelude, event, context
        return True

    def head(self, status: int, headers: Headers) -> bytes:
        return prelude_bytes(self.prelude(self.event, self.context, status, headers))

    def cycle(self, body: bytes, scope: Scope, runtime: Runtime) -> HTTPCycle:
        cycle = StreamingHTTPCycle(body, self.stream, self.head, scope.get("method") == "HEAD")
        watch = getattr(self.stream, "watch", None)
        if watch is not None:  # the stream can tell when its client leaves (mangum-like serve)
            watch(lambda: runtime.call_soon_threadsafe(cycle.client_gone))
        return cycle

    def answer(self, scope: Scope, status: int, headers: Headers, body: bytes) -> None:
        try:
            self.stream.start(self.head(status, headers))
            if scope.get("method") != "HEAD":
                self.stream.write(body)
            self.stream.end()
        except OSError as exc:
            logger.warning("The response stream was lost (%s)", exc)

    def started(self, cycle: HTTPCycle) -> bool:
        return cycle.state != HTTPCycle.REQUEST

    def lost(self, cycle: HTTPCycle) -> bool:
        return bool(getattr(cycle, "write_failed", False))

    def fail(self, error: BaseException) -> None:
        try:
            self.stream.fail(error)
        except OSError as exc:
            logger.warning("The response stream was lost (%s)", exc)


class Early(Sink):
    """The result handed over the moment the app sends its last body message, while the app goes
    on: the runtime loop posts it to the Runtime API, ``mangum-like serve`` writes it to its
    client, and the invocation ends when the app returns.

    ``deliver(answer)`` is called once per invocation: on the loop's thread from inside the app's
    last ``send``, or, when the app never completed its response (an error answer), on the
    calling thread once the app has returned. ``answer()`` gives the source's result, or raises
    what fails the invocation (``PassThroughFailed``).
    """

    __slots__ = ("context", "deliver", "event", "given", "held", "hold", "scope", "source")

    def __init__(self, deliver: Callable[[Callable[[], LambdaResult]], None]) -> None:
        self.deliver = deliver
        self.given = 0  # the status handed over, once mapped
        self.hold: frozenset[int] | None = None  # see fails_on()
        self.held: Callable[[], LambdaResult] | None = None
        self.source: Any = None
        self.event: Any = None
        self.context: Any = None
        self.scope: Scope = {}

    def open(self, source: EventSource, event: Any, context: LambdaContext) -> bool:
        self.source, self.event, self.context = source, event, context
        return True

    def cycle(self, body: bytes, scope: Scope, runtime: Runtime) -> HTTPCycle:
        self.scope = scope
        return EarlyHTTPCycle(body, self.complete)

    def complete(self, cycle: HTTPCycle) -> None:
        """The app sent its last body message: hand the result over now."""
        chunks = cycle.chunks
        status, headers = cycle.status, cycle.headers
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        cycle.chunks = []  # the result holds the body now; the app may run on for a while
        self._give(status, headers, body)

    def answer(self, scope: Scope, status: int, headers: Headers, body: bytes) -> None:
        self._give(status, headers, body)

    def fails_on(self, statuses: frozenset[int]) -> None:
        self.hold = statuses

    def settle(self, failure: InvocationFailed | None) -> None:
        held, self.held = self.held, None
        if failure is not None:
            self._hand_over(_raising(failure))
        elif held is not None:
            self._hand_over(held)

    def _give(self, status: int, headers: Headers, body: bytes) -> None:
        def answer() -> LambdaResult:
            return self._mapped(status, headers, body)

        hold = self.hold
        if hold is not None and (status == 500 or status in hold):
            # Whether the invocation fails is known once the app returns: Starlette's error
            # middleware sends its 500, then raises.
            self.held = answer
            return
        self._hand_over(answer)

    def status(self, cycle: HTTPCycle) -> int:
        return self.given or cycle.status

    def _mapped(self, status: int, headers: Headers, body: bytes) -> LambdaResult:
        self.given, result = _result(
            self.source, self.event, self.context, self.scope, status, headers, body
        )
        return result

    def _hand_over(self, answer: Callable[[], LambdaResult]) -> None:
        try:
            self.deliver(answer)
        except Exception:  # never into the app's send(): its work goes on
            logger.exception("Handing over the result of %s %s failed", *_request_line(self.scope))


def _raising(failure: BaseException) -> Callable[[], LambdaResult]:
    def answer() -> LambdaResult:
        raise failure

    return answer


def _request_line(scope: Scope) -> tuple[Any, Any]:
    return scope.get("method"), scope.get("path")


# -- wrapped handlers under the runtime loop ------------------------------------------------------

#: The handoff of the invocation the runtime loop is running through a wrapper, if any.
HANDOFF: ContextVar[Handoff | None] = ContextVar("mangum_like_handoff", default=None)
_current_handoff = HANDOFF.get
# Whether a Handoff was ever made in this process (by the runtime loop, for a wrapped handler):
# until then the per-invocation path does not even look at HANDOFF.
_handoffs = False


class Handoff:
    """What a bare Mangum gets from the runtime loop, given to a Mangum inside a wrapper.

    The runtime loop calls a handler that is not a bare Mangum (``logger.inject_lambda_context(
    handler)``, ``serverless_function(handler)``, OpenTelemetry's proxy, a function) once per
    invocation and posts what it returns, as the official client does. A Mangum called inside it
    runs the invocation in a thread of this handoff's (in a copy of the caller's context, so the
    wrapper's span, scope and ids are the app's too) and returns the result to the wrapper the
    moment the app's response is complete; the app goes on there (BackgroundTasks, code after
    its last ``send``), and ``finish()``, which the runtime loop calls after posting the result
    and before asking for the next invocation, waits for it. So the wrapper's own work runs
    (Powertools' metrics flush, a span's end), its return value is what is posted, and
    background work does not delay the answer.
    """

    def __init__(self) -> None:
        global _handoffs
        _handoffs = True
        self._idle: list[_AppThread] = []
        self._running: list[_AppThread] = []
        self._lock = threading.Lock()

    def run(self, handler: Mangum, event: Any, context: LambdaContext) -> LambdaResult | None:
        """One invocation of ``handler`` whose result is returned once the response is complete."""
        with self._lock:
            worker = self._idle.pop() if self._idle else _AppThread()
            self._running.append(worker)
        app_context = copy_context()
        app_context.run(HANDOFF.set, None)  # the Mangum inside runs its pipeline as usual
        return worker.start(app_context, handler, event, context)

    def finish(self) -> None:
        """Wait for the apps of this invocation to return (what failed after its answer is
        logged by their threads)."""
        with self._lock:
            running, self._running = self._running, []
        for worker in running:
            worker.join()
            with self._lock:
                self._idle.append(worker)


class _AppThread:
    """A thread that runs one invocation at a time for a ``Handoff``, reused across them."""

    __slots__ = ("answered", "done", "error", "handed_over", "job", "ready", "result", "thread")

    def __init__(self) -> None:
        self.job: tuple[Any, ...] | None = None
        self.ready = threading.Event()  # a job is waiting
        self.answered = threading.Event()  # the result is ready, or the invocation failed
        self.done = threading.Event()  # the app has returned
        self.done.set()
        self.result: Any = None
        self.error: BaseException | None = None
        self.handed_over = False  # the result went to the caller before the invocation ended
        self.thread = threading.Thread(target=self._serve, name="mangum_like-app", daemon=True)
        self.thread.start()

    def start(
        self, app_context: Any, handler: Mangum, event: Any, context: LambdaContext
    ) -> LambdaResult | None:
        self.result, self.error, self.handed_over = None, None, False
        self.answered.clear()
        self.done.clear()
        self.job = (app_context, handler, event, context)
        self.ready.set()
        self.answered.wait()
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        result: LambdaResult | None = self.result
        self.result = None
        return result

    def join(self) -> None:
        self.done.wait()

    def _deliver(self, answer: Callable[[], LambdaResult]) -> None:
        # On the loop's thread, inside the app's last send (or once it returned): map now.
        try:
            self.result = answer()
        except Exception as exc:  # fails the invocation (PassThroughFailed): the wrapper's
            self.error = exc
        self.handed_over = True
        self.answered.set()

    def _serve(self) -> None:
        while True:
            self.ready.wait()
            self.ready.clear()
            job, self.job = self.job, None
            assert job is not None
            app_context, handler, event, context = job
            try:
                app_context.run(invoke, handler, event, context, Early(self._deliver))
            except Exception as exc:
                if self.handed_over:
                    logger.exception("The invocation failed after its result was returned")
                else:
                    self.error = exc
            finally:
                self.answered.set()
                self.done.set()
