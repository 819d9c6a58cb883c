"""Our own Lambda runtime loop: ``python -m mangum_like.runtime [HANDLER]``.

A runtime interface client written for mangum_like, on the standard library only: one kept-alive
``http.client`` connection to the Runtime API at ``AWS_LAMBDA_RUNTIME_API`` (AWS Lambda developer
guide, "Using the Lambda runtime API for custom runtimes"). It takes the place of the official
client (``awslambdaric``) and behaves like it where a function can tell: the handler is imported
during the Init phase, failures to import it go to ``/runtime/init/error`` with the official
``Runtime.*`` error types, the context object has the official attributes, results are
serialised to the same bytes, and errors have the same JSON shape.

What it adds is Lambda response streaming. With ``MANGUM_LIKE_INVOKE_MODE=response_stream`` (a
Function URL with ``InvokeMode: RESPONSE_STREAM``, or API Gateway with response transfer mode
``STREAM``), the response of an HTTP event goes out as the app sends it: a JSON prelude (status,
headers, cookies), 8 NUL bytes, then every ``http.response.body`` message as its own chunk of a
chunked ``POST .../response``, which Lambda relays to the client at once.

HANDLER (default: the ``_HANDLER`` environment variable, which Lambda sets from the function's
handler setting) is ``module.attr`` or ``module:attr``. It names a ``Mangum`` handler, a plain
``handler(event, context)`` function, or a bare ASGI app, which is wrapped in ``Mangum(app)``.
"""

from __future__ import annotations

import contextlib
import http.client
import importlib
import json
import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

from ._concurrency import INIT_FAILED, concurrency_settings, serve_in_processes, serve_on_one_loop
from ._invocation import HANDOFF
from ._lambda.context import LambdaContext, read_function_env
from ._lambda.errors import (
    _XRAY_CAUSE_MAX,
    AFTER_RESTORE_ERROR,
    BEFORE_SNAPSHOT_ERROR,
    BUILT_IN_MODULE_CONFLICT,
    CONTEXT_UNMARSHAL_ERROR,
    ERROR_TYPE,
    HANDLER_NOT_FOUND,
    IMPORT_MODULE_ERROR,
    MALFORMED_HANDLER_NAME,
    MARSHAL_ERROR,
    UNMARSHAL_ERROR,
    USER_CODE_SYNTAX_ERROR,
    XRAY_ERROR_CAUSE,
    FaultError,
    _xray_cause,
    error_result,
)
from ._lambda.handler import APP, MANGUM, find_attribute, handler_kind, split_handler
from ._lambda.logs import ERROR_DOCUMENT, REQUEST_ID, TENANT_ID, setup_logging
from ._lambda.payload import escapes_non_ascii, to_json
from ._lambda.rapi import RUNTIME_API_ENV, RUNTIME_PATH, Connection, RuntimeAPIError, read_answer
from ._lambda.stream import (
    ERROR_TRAILERS,
    HTTP_INTEGRATION_RESPONSE,
    LAST_CHUNK,
    failed_last_chunk,
    send_chunk,
)

if TYPE_CHECKING:
    from ._adapter import Mangum
    from ._invocation import Handoff, Sink

__all__ = ["LambdaContext", "main"]

logger = logging.getLogger("mangum_like.runtime")

INVOKE_MODE_ENV = "MANGUM_LIKE_INVOKE_MODE"
_INVOKE_MODES = ("buffered", "response_stream")


# -- loading the handler ------------------------------------------------------------------------


def load_handler(name: str) -> Any:
    """The object ``name`` (``module.attr`` or ``module:attr``) names; ``FaultError`` if none."""
    module_name, attr = split_handler(name)
    if not module_name or not attr:
        raise FaultError(
            MALFORMED_HANDLER_NAME,
            f"Bad handler '{name}': expected 'module.attribute' or 'module:attribute'",
        )
    if module_name.split(".")[0] in sys.builtin_module_names:
        raise FaultError(
            BUILT_IN_MODULE_CONFLICT,
            f"Cannot use built-in module {module_name} as a handler module",
        )
    try:
        # Lambda's handler setting may name the module by its path: "src/app.handler".
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as exc:
        raise FaultError(
            IMPORT_MODULE_ERROR, f"Unable to import module '{module_name}': {exc}"
        ) from exc
    except SyntaxError as exc:
        raise FaultError(
            USER_CODE_SYNTAX_ERROR,
            f"Syntax error in module '{module_name}': {exc}",
            [f'  File "{exc.filename}" Line {exc.lineno}\n    {exc.text}'],
        ) from exc
    try:
        return find_attribute(module, attr)
    except AttributeError:
        raise FaultError(
            HANDLER_NOT_FOUND, f"Handler '{attr}' missing on module '{module_name}'"
        ) from None


def make_handler(target: Any) -> Callable[[Any, Any], Any]:
    """The Lambda handler for what HANDLER names: a bare ASGI app is wrapped in ``Mangum``;
    anything else is called as it is (``handler_kind``, the rule the CLI follows too)."""
    try:
        kind = handler_kind(target)
    except TypeError:
        raise FaultError(
            HANDLER_NOT_FOUND, f"Handler {target!r} is not callable (a function or an app)"
        ) from None
    if kind == APP:
        from ._adapter import Mangum

        return Mangum(target)
    handler: Callable[[Any, Any], Any] = target
    return handler


# -- the loop -----------------------------------------------------------------------------------


class RuntimeLoop:
    """Takes invocations from the Runtime API, one at a time, and posts what the handler gives."""

    def __init__(
        self,
        connection: Connection,
        handler: Callable[[Any, Any], Any],
        invoke_mode: str = "buffered",
        ensure_ascii: bool = True,
        concurrent: bool = False,
    ) -> None:
        self.connection = connection
        self.handler = handler
        self.ensure_ascii = ensure_ascii
        # One poller of several (Lambda Managed Instances): the X-Ray trace id does not go to
        # _X_AMZN_TRACE_ID, a variable of the whole process, right only while one invocation
        # runs at a time; and results are posted by a thread of this poller's own, so that the
        # post and the wait for its 202 do not hold up the event loop the invocations share.
        self.concurrent = concurrent
        self._poster = _Poster() if concurrent else None
        self.served = 0
        self.streaming = False
        # A Mangum handler answers first and finishes after: its result is posted the moment
        # the app's response is complete, and the next invocation is asked for once the app
        # has returned (BackgroundTasks run in between, as Lambda keeps the environment
        # running until /next).
        self.early: Mangum | None = None
        # Any other handler (a wrapper around a Mangum, a plain function) runs with a handoff:
        # a Mangum it calls returns its result to it as early (see _invocation.Handoff).
        self._handoff: Handoff | None = None
        # One write per request, its answer read by hand (_lambda.rapi): bound once here.
        self._exchange = connection.exchange
        self._host = connection.address.encode("latin-1")
        self._next_request = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (_NEXT.encode(), self._host)
        # The current invocation's Lambda-Runtime-Invocation-Id header, to send back with its
        # answer (empty when /next sent none: a Runtime API of before 2026).
        self._echo = b""
        if handler_kind(handler) == MANGUM:
            from ._invocation import Early, Streamed, invoke

            self.early = cast("Mangum", handler)
            self.streaming = invoke_mode == "response_stream"
            # Bound once here, not imported on every invocation.
            self._invoke, self._early_sink, self._streamed_sink = invoke, Early, Streamed
        else:
            from ._invocation import Handoff

            self._handoff = Handoff()
            if invoke_mode == "response_stream":
                # What a wrapper returns is the result: it cannot be streamed while the
                # wrapper still holds it, and a stream would bypass the wrapper's own work.
                logger.warning(
                    "%s=response_stream streams the response of a Mangum handler or an ASGI "
                    "app named by the handler setting; %r is another callable (a wrapper "
                    "around one, perhaps), whose return value is the result: answering "
                    "buffered",
                    INVOKE_MODE_ENV,
                    handler,
                )

    def run(self, limit: int | None = None) -> None:
        """Serve invocations; ``limit`` bounds how many (for tests), None serves for ever."""
        end = None if limit is None else self.served + limit
        while end is None or self.served < end:
            self.serve_one()
            self.served += 1

    def serve_one(self) -> None:
        status, headers, body = self._exchange(self._next_request)
        if status != 200:
            # Lambda answers /next with an error only when the environment cannot go on; the
            # official client exits too, and Lambda starts a fresh environment.
            raise RuntimeAPIError("GET", _NEXT, status, body)
        request_id = headers.get("lambda-runtime-aws-request-id") or ""
        invocation_id = headers.get("lambda-runtime-invocation-id")
        self._echo = (
            b"%s: %s\r\n" % (INVOCATION_ID_BYTES, invocation_id.encode("latin-1"))
            if invocation_id
            else b""
        )
        # Log lines carry the id of the invocation whose code made them: the app's tasks start
        # from a copy of this thread's context (each poller's own in the concurrent modes).
        REQUEST_ID.set(request_id)
        TENANT_ID.set(headers.get("lambda-runtime-aws-tenant-id"))
        if not self.concurrent:
            # X-Ray reads the trace header of the current invocation from the environment.
            trace_id = headers.get("lambda-runtime-trace-id")
            if trace_id:
                os.environ["_X_AMZN_TRACE_ID"] = trace_id
            else:
                os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            context = _context(request_id, headers)
            if headers.get("content-type") == "application/json":
                try:
                    event = json.loads(body)
                except ValueError as exc:
                    raise FaultError(UNMARSHAL_ERROR, f"Unable to unmarshal input: {exc}") from exc
            else:
                event = body
            if self.early is not None:
                self._answer_first(self.early, request_id, event, context)
                return
        except Exception as exc:
            self._post_error(request_id, exc)
            return
        self._call_wrapped(request_id, event, context)

    def _call_wrapped(self, request_id: str, event: Any, context: Any) -> None:
        """Call a handler that is not a bare Mangum, as the official client does, once; post
        what it returns; ask for the next invocation once the apps it called have returned."""
        handoff = self._handoff
        assert handoff is not None
        token = HANDOFF.set(handoff)
        try:
            try:
                result = self.handler(event, context)
            finally:
                HANDOFF.reset(token)
        except Exception as exc:
            self._post_error(request_id, exc)
        else:
            self._post_result(request_id, result)
        finally:
            handoff.finish()
            _flush_sentry()

    def _answer_first(self, handler: Mangum, request_id: str, event: Any, context: Any) -> None:
        """Run one invocation whose result is posted (or whose stream is ended) as soon as the
        app's response is complete; return once the app has returned."""
        posted = False
        poster = self._poster

        def deliver(answer: Callable[[], Any]) -> None:
            nonlocal posted
            posted = True
            try:
                result = answer()
            except Exception as exc:
                post: Callable[..., None] = self._post_error
                item: Any = exc
            else:
                post, item = self._post_result, result
            if poster is None:
                post(request_id, item)
            else:
                poster.post(request_id, post, request_id, item)

        writer = None
        sink: Sink = self._early_sink(deliver)
        if self.streaming:  # a source that cannot stream (ALB, custom handlers): buffered, early
            writer = StreamedResponse(self.connection, request_id, poster, self._echo)
            sink = self._streamed_sink(writer, instead=sink)
        try:
            self._invoke(handler, event, context, sink)
        except Exception as exc:
            if writer is not None and writer.started:
                _end_failed(writer, exc)
            elif not posted:
                raise  # the invocation's error
            else:
                logger.exception("The invocation failed after its result was posted")
        finally:
            if poster is not None:
                poster.wait()  # the connection is free again for /next
            _flush_sentry()

    def _post_result(self, request_id: str, result: Any) -> None:
        if result.__class__ is bytes:
            payload, content_type = result, "application/unknown"
        else:
            try:
                payload = to_json(result, self.ensure_ascii).encode("utf-8")
            except Exception as exc:
                error = FaultError(MARSHAL_ERROR, f"Unable to marshal response: {exc}")
                error.__cause__ = exc
                self._post_error(request_id, error)
                return
            content_type = "application/json"
        request = b"POST %s/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n%s" % (
            _RUNTIME_PATH_BYTES,
            request_id.encode("latin-1"),
            self._host,
            self._echo,
        )
        status, _, answer = self._exchange(
            b"%bContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
            % (request, content_type.encode(), len(payload), payload)
        )
        if status != 202:
            refused("result", request_id, status, answer)

    def _post_error(self, request_id: str, exc: BaseException) -> None:
        error = error_result(exc, request_id)
        logger.error(
            "%s: %s\n%s",
            error["errorType"],
            error["errorMessage"],
            "".join(error["stackTrace"]),
            extra={ERROR_DOCUMENT: error},
        )
        body = to_json(error, self.ensure_ascii).encode("utf-8")
        head = b"POST %s/invocation/%s/error HTTP/1.1\r\nHost: %s\r\n%s%s: %s\r\n" % (
            _RUNTIME_PATH_BYTES,
            request_id.encode("latin-1"),
            self._host,
            self._echo,
            ERROR_TYPE.encode(),
            error["errorType"].encode("latin-1", "replace"),
        )
        cause = _xray_cause(exc, error)
        if len(cause) < _XRAY_CAUSE_MAX:
            head += b"%s: %s\r\n" % (XRAY_ERROR_CAUSE.encode(), cause.encode("latin-1", "replace"))
        status, _, answer = self._exchange(
            b"%bContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (head, len(body), body)
        )
        if status != 202:
            refused("error", request_id, status, answer)


def refused(what: str, request_id: str, status: int, answer: bytes) -> None:
    """Log the Runtime API's refusal of an invocation's answer; the runtime goes on."""
    detail = answer[:300].decode(errors="replace")
    if status == 410:
        # The invocation is over for Lambda (it timed out, say): a stale answer, not a fault.
        logger.warning(
            "The Runtime API answered 410 Gone to the %s of invocation %s: Lambda no longer "
            "waits for it (it timed out or was ended); going on with the next one. %s",
            what,
            request_id,
            detail,
        )
        return
    logger.error(
        "The Runtime API refused the %s of invocation %s: %s %s", what, request_id, status, detail
    )


INVOCATION_ID = "Lambda-Runtime-Invocation-Id"
INVOCATION_ID_BYTES = INVOCATION_ID.encode()


def _flush_sentry() -> None:
    """Send what Sentry holds before the runtime asks for the next invocation: Lambda may freeze
    the environment from then on. Its own Lambda integration flushes from inside awslambdaric's
    loop, which this runtime replaces; nothing is done unless the app set Sentry up."""
    sentry = sys.modules.get("sentry_sdk")
    if sentry is None:
        return
    try:
        if sentry.get_client().is_active():
            sentry.flush(timeout=2.0)
    except Exception:  # the app's error reporting must not fail the runtime
        logger.debug("Flushing Sentry's events failed", exc_info=True)


_NEXT = f"{RUNTIME_PATH}/invocation/next"
_RUNTIME_PATH_BYTES = RUNTIME_PATH.encode()


class _Poster:
    """A poller's thread that posts its results, handed over from the event loop's thread."""

    def __init__(self) -> None:
        self.queue: queue.SimpleQueue[tuple[str, Callable[..., None], tuple[Any, ...]]] = (
            queue.SimpleQueue()
        )
        self.idle = threading.Event()
        self.idle.set()
        threading.Thread(target=self._serve, name="mangum_like-poster", daemon=True).start()

    def post(self, request_id: str, fn: Callable[..., None], *args: Any) -> None:
        """Have ``fn(*args)`` called on the posting thread, for invocation ``request_id``."""
        self.idle.clear()
        self.queue.put((request_id, fn, args))

    def wait(self) -> None:
        self.idle.wait()

    def _serve(self) -> None:
        while True:
            request_id, fn, args = self.queue.get()
            REQUEST_ID.set(request_id)  # for what the post logs
            try:
                fn(*args)
            except Exception:
                logger.exception("Posting the answer to invocation %s failed", request_id)
            finally:
                self.idle.set()


def _end_failed(writer: StreamedResponse, exc: BaseException) -> None:
    logger.error("The streamed response failed: %r", exc)
    try:
        writer.fail(exc)
    except OSError as error:
        logger.warning("The response stream was lost (%s)", error)


def _context(request_id: str, headers: dict[str, str]) -> LambdaContext:
    client_context = headers.get("lambda-runtime-client-context")
    identity = headers.get("lambda-runtime-cognito-identity")
    return LambdaContext(
        request_id,
        int(headers.get("lambda-runtime-deadline-ms") or 0),
        headers.get("lambda-runtime-invoked-function-arn"),
        _header_json(client_context, "Client Context") if client_context else None,
        _header_json(identity, "Cognito Identity") if identity else None,
        headers.get("lambda-runtime-aws-tenant-id"),
        xray_trace_id=headers.get("lambda-runtime-trace-id"),
    )


def _header_json(value: str, name: str) -> Any:
    try:
        return json.loads(value)
    except ValueError as exc:
        raise FaultError(CONTEXT_UNMARSHAL_ERROR, f"Unable to parse {name} JSON: {exc}") from exc


# -- streamed responses ---------------------------------------------------------------------------


class StreamedResponse:
    """One response streamed to ``POST .../invocation/{id}/response`` in chunked encoding.

    The headers are Lambda's streaming contract (developer guide, "Response streaming for
    custom runtimes"): ``Lambda-Runtime-Function-Response-Mode: streaming``, chunked transfer
    encoding, and the error trailers announced up front; a failure after the first byte is
    reported in those trailers, the error document base64-encoded.
    """

    __slots__ = (
        "broken",
        "connection",
        "echo",
        "finished",
        "path",
        "poster",
        "request_id",
        "started",
    )

    def __init__(
        self,
        connection: Connection,
        request_id: str,
        poster: _Poster | None = None,
        echo: bytes = b"",
    ) -> None:
        self.connection = connection
        self.request_id = request_id
        # With several invocations on one loop: the end of the stream (its last chunk and the
        # wait for the 202) is left to the poller's posting thread.
        self.poster = poster
        self.echo = echo  # the Lambda-Runtime-Invocation-Id header line, or nothing
        self.path = f"{RUNTIME_PATH}/invocation/{request_id}/response"
        self.started = False
        self.finished = False
        self.broken = False

    def start(self, prelude: bytes) -> None:
        client = self.connection.http
        self.started = True
        # Written by hand, as every request of the runtime's (see _lambda.rapi).
        head = (
            b"POST %s HTTP/1.1\r\nHost: %s\r\n%s"
            b"Lambda-Runtime-Function-Response-Mode: streaming\r\n"
            b"Transfer-Encoding: chunked\r\nContent-Type: %s\r\nTrailer: %s\r\n\r\n"
        ) % (
            self.path.encode(),
            self.connection.address.encode("latin-1"),
            self.echo,
            HTTP_INTEGRATION_RESPONSE.encode(),
            ERROR_TRAILERS.encode(),
        )
        try:
            if client.sock is None:
                client.connect()
            client.sock.sendall(head)
        except OSError:
            self._broken()
            raise
        self.write(prelude)

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return  # an empty chunk would end the body
        try:
            send_chunk(self.connection.http.sock, chunk)
        except (OSError, AttributeError) as exc:  # AttributeError: the socket is gone
            self._broken()
            raise ConnectionError(f"the response stream to the Runtime API broke: {exc}") from exc

    def end(self) -> None:
        if self.poster is not None:
            self.poster.post(self.request_id, self._finish, LAST_CHUNK)
            return
        self._finish(LAST_CHUNK)

    def fail(self, error: BaseException) -> None:
        self._finish(failed_last_chunk(error))

    def _finish(self, last: bytes) -> None:
        if self.finished:
            return
        self.finished = True
        client = self.connection.http
        try:
            client.sock.sendall(last)
            with client.sock.makefile("rb") as reader:
                status, headers, body = read_answer(reader)
        except (OSError, AttributeError, http.client.HTTPException) as exc:
            self._broken()
            raise ConnectionError(f"the response stream to the Runtime API broke: {exc}") from exc
        if headers.get("connection", "").lower() == "close":
            client.close()
        if status != 202:
            refused("streamed response", self.request_id, status, body)

    def _broken(self) -> None:
        self.broken = self.finished = True
        # The request is half-sent: the connection cannot carry another one.
        self.connection.http.close()


# -- start-up -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the runtime loop for the handler named in ``argv[0]`` or ``_HANDLER``; never returns."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Lambda's Python runtimes leave stdout unbuffered, so that print() reaches the log at once.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError):  # a stream that is not a TextIOWrapper
            stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    setup_logging()
    address = os.environ.get(RUNTIME_API_ENV)
    if not address:
        target = args[0] if args else "MODULE:ATTR"
        sys.stderr.write(
            f"{RUNTIME_API_ENV} is not set: python -m mangum_like.runtime is the runtime loop "
            "of a Lambda function and runs inside AWS Lambda (or a Runtime API emulator) only.\n"
            f"To run the app here: mangum-like serve {target} (an HTTP server, each request a "
            f"Lambda event), or mangum-like invoke {target} (one event, the result printed).\n"
        )
        raise SystemExit(2)
    name = args[0] if args else os.environ.get("_HANDLER", "")
    mode = (os.environ.get(INVOKE_MODE_ENV) or "buffered").strip().lower()
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    if task_root and task_root not in sys.path:
        sys.path.insert(0, task_root)
    read_function_env()
    ensure_ascii = escapes_non_ascii(os.environ.get("AWS_EXECUTION_ENV"))
    connection = Connection(address)
    try:
        try:
            if mode not in _INVOKE_MODES:
                raise FaultError(
                    "Runtime.InvalidInvokeMode",
                    f"{INVOKE_MODE_ENV} must be one of {', '.join(_INVOKE_MODES)}, got {mode!r}",
                )
            if not name:
                raise FaultError(MALFORMED_HANDLER_NAME, "No handler: pass HANDLER or set _HANDLER")
            count, how = concurrency_settings()
            if count > 1 and how == "process":
                # N processes, each importing the handler itself: nothing is imported here.
                connection.close()
                serve_in_processes(
                    address, count, lambda: _serve_alone(address, name, mode, ensure_ascii)
                )
            handler = make_handler(load_handler(name))
        except Exception as exc:
            _post_init_error(connection, exc)
            raise SystemExit(1) from None
        if count > 1:
            connection.close()
            serve_on_one_loop(address, handler, count, mode, ensure_ascii)
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            _snapshot_and_restore(connection)
        RuntimeLoop(connection, handler, mode, ensure_ascii).run()
    finally:
        connection.close()
    raise SystemExit(0)  # pragma: no cover (run() without a limit never returns)


def _serve_alone(address: str, name: str, mode: str, ensure_ascii: bool) -> NoReturn:
    """One worker process of the ``process`` concurrency mode: import the handler, then serve
    one invocation at a time; exits ``INIT_FAILED`` when the handler cannot be loaded."""
    connection = Connection(address)
    try:
        handler = make_handler(load_handler(name))
    except Exception as exc:
        _post_init_error(connection, exc, quiet_refusal=True)
        raise SystemExit(INIT_FAILED) from None
    RuntimeLoop(connection, handler, mode, ensure_ascii).run()
    raise SystemExit(0)  # pragma: no cover (run() without a limit never returns)


def _snapshot_and_restore(connection: Connection) -> None:
    """SnapStart: the snapshot is taken while ``restore/next`` waits; it answers after a restore.

    The hooks registered with ``snapshot_restore_py`` run around it, as under the official client:
    the before-snapshot ones last registered first, then the after-restore ones in order
    (developer guide, "Lambda SnapStart runtime hooks for Python").
    """
    try:
        hooks: Any = importlib.import_module("snapshot_restore_py")
    except ImportError:
        hooks = None
    try:
        if hooks is not None:
            before = hooks.get_before_snapshot()
            while before:
                function, args, kwargs = before.pop()
                function(*args, **kwargs)
        reply = connection.request("GET", f"{RUNTIME_PATH}/restore/next")
        if reply.status != 200:
            raise RuntimeAPIError("GET", f"{RUNTIME_PATH}/restore/next", reply.status, reply.body)
    except Exception as exc:
        _post_init_error(connection, exc, BEFORE_SNAPSHOT_ERROR)
        raise SystemExit(64) from None
    try:
        if hooks is not None:
            for function, args, kwargs in hooks.get_after_restore():
                function(*args, **kwargs)
    except Exception as exc:
        error = error_result(exc)
        logger.error("%s: %s", AFTER_RESTORE_ERROR, error["errorMessage"])
        connection.request(
            "POST",
            f"{RUNTIME_PATH}/restore/error",
            json.dumps(error).encode("utf-8"),
            {"Content-Type": "application/json", ERROR_TYPE: AFTER_RESTORE_ERROR},
        )
        raise SystemExit(65) from None


def _post_init_error(
    connection: Connection,
    exc: BaseException,
    error_type: str | None = None,
    *,
    quiet_refusal: bool = False,
) -> None:
    error = error_result(exc)
    logger.error(
        "%s: %s\n%s",
        error["errorType"],
        error["errorMessage"],
        "".join(error["stackTrace"]),
        extra={ERROR_DOCUMENT: error},
    )
    answer = connection.request(
        "POST",
        f"{RUNTIME_PATH}/init/error",
        to_json(error, escapes_non_ascii(os.environ.get("AWS_EXECUTION_ENV"))).encode("utf-8"),
        {"Content-Type": "application/json", ERROR_TYPE: error_type or error["errorType"]},
    )
    # With several workers, the Runtime API takes the first one's init error only.
    if answer.status != 202 and not (quiet_refusal and answer.status == 403):
        logger.error(
            "The Runtime API refused the init error: %s %s",
            answer.status,
            answer.body[:300].decode(errors="replace"),
        )


if __name__ == "__main__":
    main()
