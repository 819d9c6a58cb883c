"""``mangum-like serve | invoke | event``: run a handler locally, as Lambda and its callers do.

``serve`` is a development server: each HTTP request it receives becomes the event of the
chosen AWS service, goes through the handler exactly as on Lambda (one invocation at a time, one
lifespan for the life of the server), and the result becomes the HTTP response. ``invoke`` runs
one event through the handler and prints the result; ``event`` prints a sample event.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import json
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from . import __version__
from ._adapter import Mangum
from ._context import LambdaContext
from ._exceptions import MangumLikeError
from ._local import (
    ALB_MAX_REQUEST_BODY_BYTES,
    FORMATS,
    MAX_EVENT_BYTES,
    STAGED,
    InvalidResult,
    Request,
    Response,
    build_event,
    parse_result,
    sample_request,
    stage_error,
    status_line,
)
from ._sources._base import MAX_RESULT_BYTES
from .runtime import _INVOKE_MODES as INVOKE_MODES
from .runtime import INVOKE_MODE_ENV

logger = logging.getLogger("mangum_like.cli")
access_logger = logging.getLogger("mangum_like.cli.access")

# Headers the server frames the response with itself.
_FRAMING = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})

#: The formats whose service can stream a response to the client as the function writes it: a
#: function URL in RESPONSE_STREAM mode, and API Gateway in response transfer mode STREAM (the
#: payload 2.0 source streams alike; on AWS only REST APIs take that mode, HTTP APIs buffer).
STREAMED = ("v2", "url", "v1")
#: Lambda's quota for a streamed response ("Response streaming for Lambda functions": 200 MB,
#: against 6 MB for a buffered one).
MAX_STREAMED_BYTES = 200 * 1024 * 1024
# The prelude of a streamed response ends with 8 NUL bytes ("Lambda proxy integration format
# for response streaming", API Gateway developer guide).
_DELIMITER = b"\0" * 8


class CLIError(Exception):
    """A failure the CLI reports in one message, with the exit status to end with."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# -- the handler ----------------------------------------------------------------------------------


def import_target(spec: str) -> Any:
    """The object an import string names: ``package.module:attr`` or ``package.module.attr``.

    The current directory comes first on ``sys.path``, as with ``python -m``.
    """
    module_name, sep, attrs = spec.partition(":")
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        raise CLIError(
            f"{spec!r} names a file; an import string names a module: "
            f"did you mean {_as_import_string(module_name, attrs or 'app')!r}?"
        )
    if not sep:
        module_name, _, attrs = spec.rpartition(".")
    if not module_name or not attrs:
        raise CLIError(
            f"{spec!r} is not an import string: write MODULE:ATTR (such as app.main:handler) "
            "or MODULE.ATTR"
        )
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (module_name == missing or module_name.startswith(missing + ".")):
            raise CLIError(
                f"Could not import module {module_name!r}: no module named {missing!r} "
                f"(searched the current directory {cwd} and sys.path)"
            ) from None
        raise CLIError(_raised_in(module_name, exc), 1) from None
    except Exception as exc:
        raise CLIError(_raised_in(module_name, exc), 1) from None
    target: Any = module
    for attr in attrs.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise CLIError(
                f"Module {module_name!r} has no attribute {attrs!r} "
                f"(the module is {getattr(module, '__file__', None) or module_name})"
            ) from None
    return target


def _as_import_string(path: str, attrs: str) -> str:
    """``./src/app.py`` and ``app`` -> ``src.app:app``."""
    module = path.replace("\\", "/").removesuffix(".py")
    parts = [part for part in module.split("/") if part not in ("", ".")]
    return ".".join(parts) + ":" + attrs


def _raised_in(module_name: str, exc: BaseException) -> str:
    """The message for an exception raised while the user's module ran: its own traceback."""
    tb: TracebackType | None = exc.__traceback__
    # Leave out the frames of this module and of the import machinery: the user's code starts
    # at the first frame that is neither.
    while tb is not None and (
        tb.tb_frame.f_code.co_filename == __file__ or "importlib" in tb.tb_frame.f_code.co_filename
    ):
        tb = tb.tb_next
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    return f"Importing module {module_name!r} raised an exception:\n{text.rstrip()}"


def _is_lambda_handler(target: Any) -> bool:
    """Whether ``target`` is a plain ``def handler(event, context)`` rather than an ASGI app."""
    if not inspect.isfunction(target) or inspect.iscoroutinefunction(target):
        return False
    params = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(params) == 2


class Function:
    """What ``MODULE:ATTR`` names, made a Lambda handler: an ASGI app is wrapped in ``Mangum``."""

    def __init__(self, target: Any, *, base_path: str | None, backend: str | None) -> None:
        self.mangum: Mangum | None = None
        if isinstance(target, Mangum):
            if base_path is not None or backend is not None:
                given = "--base-path" if base_path is not None else "--backend"
                raise CLIError(
                    f"{given} applies to an ASGI app, and this is a Mangum handler, which has "
                    "its own: pass it where the handler is made, as Mangum(app, "
                    "api_gateway_base_path=..., backend=...), or name the app itself "
                    "(MODULE:app) to serve it with these options"
                )
            self.mangum = target
            self.handler: Callable[[Any, Any], Any] = target
        elif _is_lambda_handler(target):
            self.handler = target
        elif callable(target):
            try:
                self.mangum = Mangum(
                    target, api_gateway_base_path=base_path or "/", backend=backend or "asyncio"
                )
            except MangumLikeError as exc:
                raise CLIError(str(exc)) from exc
            self.handler = self.mangum
        else:
            raise CLIError(
                f"{target!r} is neither an ASGI application nor a Lambda handler (not callable)"
            )

    @classmethod
    def load(cls, spec: str, *, base_path: str | None, backend: str | None) -> Function:
        return cls(import_target(spec), base_path=base_path, backend=backend)

    def start(self) -> None:
        """Run the app's lifespan startup, once, as the first invocation would."""
        if self.mangum is not None:
            try:
                self.mangum.startup()
            except MangumLikeError as exc:
                # The traceback is logged once already: one line says what happened.
                cause = exc.__cause__
                what = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
                raise CLIError(f"the app's lifespan startup failed ({what})", 1) from exc

    def stop(self) -> None:
        if self.mangum is not None:
            self.mangum.shutdown()

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        return self.handler(event, context)


# -- one invocation, as Lambda makes it ---------------------------------------------------------


class InvocationError(Exception):
    """The invocation failed as Lambda reports it: ``errorType`` and ``errorMessage``."""

    def __init__(self, error_type: str, message: str, stack: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.stack = stack or []

    def as_result(self, request_id: str) -> dict[str, Any]:
        return {
            "errorMessage": str(self),
            "errorType": self.error_type,
            "requestId": request_id,
            "stackTrace": self.stack,
        }


def invoke(function: Function, payload: str, context: LambdaContext) -> Any:
    """Run a JSON event through the handler and return its result as Lambda hands it on.

    The event is decoded from JSON and the result encoded to it, as the runtime does, so the
    handler sees what it sees on Lambda and a result Lambda would refuse fails here too.
    """
    try:
        result = function(json.loads(payload), context)
    except Exception as exc:
        raise _failed(exc) from exc
    return _returned(result)


def _failed(exc: Exception) -> InvocationError:
    stack = traceback.format_list(traceback.extract_tb(exc.__traceback__)[1:])
    return InvocationError(type(exc).__name__, str(exc), stack)


def _returned(result: Any) -> Any:
    """The result as Lambda hands it on: through JSON, within the buffered size quota."""
    try:
        encoded = json.dumps(result)
    except (TypeError, ValueError) as exc:
        raise InvocationError("Runtime.MarshalError", f"Unable to marshal response: {exc}") from exc
    if len(encoded.encode("utf-8")) > MAX_RESULT_BYTES:
        raise InvocationError(
            "Function.ResponseSizeTooLarge",
            f"Response payload size exceeded maximum allowed payload size ({MAX_RESULT_BYTES} "
            "bytes).",
        )
    return json.loads(encoded)


# -- serve ----------------------------------------------------------------------------------------


class _TooLarge(Exception):
    def __init__(self, *, drained: bool = False) -> None:
        super().__init__()
        self.drained = drained


# A client that sends an oversized body without waiting for an answer sees its write fail if
# the server stops reading: a chunked body is read to its end, up to this size, and dropped.
_DRAIN_BYTES = 4 * MAX_EVENT_BYTES


class _BadRequest(Exception):
    pass


def _error_response(fmt: str, status: int, message: str) -> Response:
    # API Gateway and function URLs answer JSON ({"message": ...}); ALB, VPC Lattice and
    # CloudFront a short text page.
    if fmt in ("v1", "v2", "url"):
        body = json.dumps({"message": message}).encode()
        return Response(status, [("Content-Type", "application/json")], body)
    return Response(status, [("Content-Type", "text/plain")], status_line(status).encode())


class DevServer(ThreadingHTTPServer):
    """An HTTP server whose requests become Lambda invocations of one handler, one at a time.

    With ``invoke_mode="response_stream"`` the responses of a Mangum handler in a format that
    can stream (``STREAMED``) go to the client as the app sends them, chunked.
    """

    daemon_threads = True
    #: Where a streamed response is cut off (Lambda's quota).
    stream_limit = MAX_STREAMED_BYTES

    def __init__(
        self,
        function: Function,
        fmt: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        stage: str | None = None,
        timeout: float = 30.0,
        invoke_mode: str = "buffered",
    ) -> None:
        if invoke_mode not in INVOKE_MODES:
            raise ValueError(f"invoke_mode must be one of {INVOKE_MODES}, got {invoke_mode!r}")
        self.function = function
        self.fmt = fmt
        self.stage = stage
        #: The largest request body the service hands to the function, and whose limit it is.
        self.body_limit, self.body_limit_name = (
            (ALB_MAX_REQUEST_BODY_BYTES, "the Application Load Balancer's request body limit")
            if fmt in ("alb", "alb-multi")
            else (MAX_EVENT_BYTES, "Lambda's invocation payload limit")
        )
        self.function_timeout = timeout
        #: The handler whose responses stream, or None: buffered mode, a format that cannot
        #: stream, or a plain handler (which returns its result whole).
        self.streaming = (
            function.mangum if invoke_mode == "response_stream" and fmt in STREAMED else None
        )
        # One Lambda execution environment serves one invocation at a time.
        self.invocation = threading.Lock()
        #: The request being invoked, for the shutdown message.
        self.in_flight: Request | None = None
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), _RequestHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        host = host if isinstance(host, str) else host.decode()
        if ":" in host:
            host = f"[{host}]"
        prefix = f"/{self.stage}" if self.stage and self.fmt in STAGED else ""
        return f"http://{host}:{port}{prefix}"

    def respond(self, request: Request) -> Response:
        """The response to one request: its event through the handler, the result mapped."""
        payload = self._event(request)
        if isinstance(payload, Response):
            return payload
        with self.invocation:
            self.in_flight = request
            context = LambdaContext.local(self.function_timeout)
            try:
                result = invoke(self.function, payload, context)
            except InvocationError as exc:
                return self._failed(exc)
            finally:
                self.in_flight = None
        return self._result(result)

    def stream(self, mangum: Mangum, request: Request, out: StreamedResponse) -> Response | None:
        """Invoke ``mangum`` (``self.streaming``) for one request, the response streamed to ``out``.

        Returns None once the response went to ``out``, else the response to send as usual:
        an answer without invocation (413, a stage error), a failure before the response
        started, or the buffered result of an event the handler answers buffered.
        """
        payload = self._event(request)
        if isinstance(payload, Response):
            return payload
        with self.invocation:
            self.in_flight = request
            context = LambdaContext.local(self.function_timeout)
            try:
                result = mangum.stream(json.loads(payload), context, out)
                if result is None:
                    return None
                result = _returned(result)
            except InvocationError as exc:
                return self._failed(exc)
            except Exception as exc:
                if out.started:
                    out.fail(exc)
                    return None
                return self._failed(_failed(exc))
            finally:
                self.in_flight = None
        return self._result(result)

    def _event(self, request: Request) -> str | Response:
        """The event for ``request`` as JSON, or the answer the service gives without one."""
        refused = stage_error(self.fmt, self.stage, request.target.partition("?")[0])
        if refused is not None:
            return refused
        payload = json.dumps(build_event(self.fmt, request, stage=self.stage))
        size = len(payload.encode("utf-8"))
        if size > MAX_EVENT_BYTES:
            logger.warning(
                "The event for %s %s is %d bytes, over Lambda's %d-byte invocation payload "
                "limit; answering 413 without invoking the function",
                request.method,
                request.target,
                size,
                MAX_EVENT_BYTES,
            )
            return _error_response(self.fmt, 413, "Request Entity Too Large")
        return payload

    def _failed(self, exc: InvocationError) -> Response:
        # CloudFront answers a Lambda@Edge execution error with 503 ("Testing and debugging
        # Lambda@Edge functions"); API Gateway, ALB and Lattice with 502.
        status = 503 if self.fmt == "edge" else 502
        logger.error(
            "The function failed (%s: %s); answering %d\n%s",
            exc.error_type,
            exc,
            status,
            "".join(exc.stack).rstrip(),
        )
        return _error_response(self.fmt, status, "Internal server error")

    def _result(self, result: Any) -> Response:
        try:
            return parse_result(self.fmt, result)
        except InvalidResult as exc:
            logger.error("Malformed Lambda result (%s); answering 502", exc)
            return _error_response(self.fmt, 502, "Internal server error")


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mangum-like"
    # The head and the body of a response are two writes; with Nagle's algorithm the second
    # waits for the client's delayed ACK (some 40 ms) on every keep-alive request.
    disable_nagle_algorithm = True
    server: DevServer

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body = self._read_body()
        except _TooLarge as exc:
            response = self._too_large(close=not exc.drained)
        except _BadRequest as exc:
            self.close_connection = True
            response = Response(400, [("Content-Type", "text/plain")], f"{exc}\n".encode())
        else:
            request = Request(
                self.command,
                self.path,
                self.headers.items(),
                body,
                client_ip=self.client_address[0],
                scheme="http",
                port=self.server.server_address[1],
            )
            streaming = self.server.streaming
            if streaming is not None:
                self._stream(streaming, request, started)
                return
            response = self.server.respond(request)
        self._finish(response, started)

    def _stream(self, mangum: Mangum, request: Request, started: float) -> None:
        out = StreamedResponse(self)
        # A client that stops reading must not hold the loop for ever: a write that cannot
        # proceed for the function's timeout fails, and the app sees a disconnect.
        self.connection.settimeout(self.server.function_timeout)
        try:
            response = self.server.stream(mangum, request, out)
        finally:
            out.unwatch()
            self.connection.settimeout(self.timeout)
        if response is not None:
            self._finish(response, started)
            return
        if not out.ended:
            self.close_connection = True  # cut off, or the client is gone
        access_logger.info(
            "%s %s %s %.1fms%s",
            self.command,
            self.path,
            out.status or "-",
            (time.perf_counter() - started) * 1000,
            "" if out.ended else " (cut off)",
        )

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def handle_expect_100(self) -> bool:
        # Refuse an oversized body before the client sends it.
        if self._declared_length() > self.server.body_limit:
            self._finish(self._too_large(), time.perf_counter())
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return 0

    def _too_large(self, *, close: bool = True) -> Response:
        if close:
            # The body is left unread on the connection: it cannot carry another request.
            self.close_connection = True
        logger.warning(
            "%s %s: the request body is over %s (%d bytes); answering 413 without invoking "
            "the function",
            self.command,
            self.path,
            self.server.body_limit_name,
            self.server.body_limit,
        )
        return _error_response(self.server.fmt, 413, "Request Entity Too Large")

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        text = self.headers.get("Content-Length")
        if not text:
            return b""
        if not text.strip().isdigit():
            raise _BadRequest(f"invalid Content-Length {text!r}")
        length = int(text)
        if length > self.server.body_limit:
            if length > _DRAIN_BYTES:
                raise _TooLarge
            # Read to its end and dropped: the client's write completes, it reads the 413, and
            # the connection can carry the next request.
            left = length
            while left > 0:
                chunk = self.rfile.read(min(left, 1 << 20))
                if not chunk:
                    raise _TooLarge
                left -= len(chunk)
            raise _TooLarge(drained=True)
        body = self.rfile.read(length)
        if len(body) != length:
            raise _BadRequest("the connection closed before the whole body arrived")
        return body

    def _read_chunked(self) -> bytes:
        # RFC 9112 7.1: chunk-size [; extensions] CRLF data CRLF ... 0 CRLF [trailers] CRLF
        chunks: list[bytes] = []
        total = 0
        limit = self.server.body_limit
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(f"invalid chunk size line {line[:40]!r}") from None
            if size == 0:
                break
            total += size
            if total > _DRAIN_BYTES:
                raise _TooLarge
            data = self.rfile.read(size)
            if len(data) != size or self.rfile.readline(1024).strip():
                raise _BadRequest("a chunk of the body is cut short or not followed by CRLF")
            if total <= limit:
                chunks.append(data)
        while self.rfile.readline(8192).strip():
            pass  # trailer fields: nothing the function is shown
        if total > limit:
            # The whole body was read (and dropped): the connection can carry the next request.
            raise _TooLarge(drained=True)
        return b"".join(chunks)

    def _finish(self, response: Response, started: float) -> None:
        try:
            self._write(response)
        except ConnectionError:
            self.close_connection = True  # the client went away: nothing left to answer
        access_logger.info(
            "%s %s %d %.1fms",
            self.command,
            self.path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def _write(self, response: Response) -> None:
        head = self.command == "HEAD"
        framing = []
        if not head and response.status >= 200 and response.status not in (204, 304):
            framing.append(("Content-Length", str(len(response.body))))
        self.write_head(response, framing)
        if not head and response.body:
            self.wfile.write(response.body)

    def write_head(self, response: Response, framing: list[tuple[str, str]]) -> None:
        """The status line and headers of ``response``, framed by ``framing``; a HEAD response
        keeps the Content-Length the function gave (that of the body a GET would get)."""
        head = self.command == "HEAD"
        self.send_response_only(response.status, status_line(response.status)[4:] or None)
        names = set()
        for name, value in response.headers:
            lower = name.lower()
            names.add(lower)
            if lower in _FRAMING and not (head and lower == "content-length"):
                continue
            if "\r" in value or "\n" in value:
                logger.warning("Dropped the response header %r: its value holds a line break", name)
                continue
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                # Header fields are bytes; a result's value beyond Latin-1 goes out as UTF-8.
                value = value.encode("utf-8").decode("latin-1")
            self.send_header(name, value)
        if "date" not in names:
            self.send_header("Date", formatdate(usegmt=True))
        for name, value in framing:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        # Malformed requests the stdlib answers itself (400, 414, 501).
        logger.warning("%s - %s", self.address_string(), format % args)


class StreamedResponse:
    """A streamed invocation's response, written to the client as the function writes it.

    It plays the service in front of a streaming function: the prelude (the source's status,
    headers and cookies) becomes the response head, and each body chunk goes out at once as an
    HTTP/1.1 chunk (RFC 9112 7.1). A failure after the head ends the connection without the last
    chunk, so that the client sees an incomplete response, as behind Lambda. The body is never
    held here: memory stays flat whatever its size.
    """

    __slots__ = (
        "aborted",
        "bodyless",
        "chunked",
        "ended",
        "handler",
        "sent",
        "sock",
        "started",
        "status",
        "wake",
        "watcher",
    )

    def __init__(self, handler: _RequestHandler) -> None:
        self.handler = handler
        self.sock: socket.socket = handler.connection
        # An HTTP/1.0 client knows no chunked coding: its body ends where the connection does.
        self.chunked = handler.request_version != "HTTP/1.0"
        self.bodyless = handler.command == "HEAD"
        self.started = self.ended = self.aborted = False
        self.status = 0
        self.sent = 0
        self.watcher: threading.Thread | None = None
        self.wake: socket.socket | None = None

    # -- the client going away ------------------------------------------------------------------

    def watch(self, disconnected: Callable[[], None]) -> None:
        """Call ``disconnected()`` if the client closes the connection before the response ends.

        Called by ``Mangum.stream`` before the app runs. A thread waits for the connection to
        become readable: the end of the stream (or a reset) means the client left; data means a
        request pipelined behind this one, after which failed writes tell the rest.
        """
        wake, self.wake = socket.socketpair()
        sock = self.sock

        def wait() -> None:
            with selectors.DefaultSelector() as selector, wake:
                selector.register(sock, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                ready = [key.fileobj for key, _ in selector.select()]
                if wake in ready:
                    return
                try:
                    peeked = sock.recv(1, socket.MSG_PEEK)
                except OSError:
                    peeked = b""
                if not peeked and not self.aborted:  # not the end this side made
                    disconnected()

        self.watcher = threading.Thread(target=wait, name="mangum_like-serve-watch", daemon=True)
        self.watcher.start()

    def unwatch(self) -> None:
        wake, watcher = self.wake, self.watcher
        if wake is None or watcher is None:
            return
        with contextlib.suppress(OSError):
            wake.send(b"\0")
        watcher.join()
        wake.close()

    # -- the ResponseStream protocol ------------------------------------------------------------

    def start(self, prelude: bytes) -> None:
        handler = self.handler
        # The source's metadata as JSON, then the 8 NUL bytes that end it.
        metadata = json.loads(prelude[: -len(_DELIMITER)])
        try:
            response = parse_result(handler.server.fmt, metadata)
        except InvalidResult as exc:
            logger.error("Malformed streaming prelude (%s); answering 502", exc)
            self.status = 502
            self.ended = True
            handler._write(_error_response(handler.server.fmt, 502, "Internal server error"))
            raise ConnectionAbortedError(f"the prelude was refused: {exc}") from exc
        self.status = status = response.status
        if status < 200 or status in (204, 304):
            self.bodyless = True  # no body, not even an empty chunked one (RFC 9110 6.4.1)
        framing = []
        if not self.bodyless:
            if self.chunked:
                framing.append(("Transfer-Encoding", "chunked"))
            else:
                handler.close_connection = True
        self.started = True
        try:
            handler.write_head(response, framing)
        except OSError:
            self._abort()
            raise

    def write(self, chunk: bytes) -> None:
        size = len(chunk)
        if not size or self.bodyless:
            return  # an empty chunk would end the body
        self.sent += size
        limit = self.handler.server.stream_limit
        if self.sent > limit:
            logger.error(
                "The streamed response to %s %s passed Lambda's %d-byte limit for a streamed "
                "response; cutting it off",
                self.handler.command,
                self.handler.path,
                limit,
            )
            self._abort()
            raise ConnectionAbortedError(f"the response passed the {limit}-byte limit")
        sock = self.sock
        try:
            if not self.chunked:
                sock.sendall(chunk)
            elif size <= 65536:
                sock.sendall(b"%x\r\n%b\r\n" % (size, chunk))
            else:  # large: no copy of the data, three writes (TCP_NODELAY is on)
                sock.sendall(b"%x\r\n" % size)
                sock.sendall(chunk)
                sock.sendall(b"\r\n")
        except OSError:
            self._abort()
            raise

    def end(self) -> None:
        if self.chunked and not self.bodyless:
            try:
                self.sock.sendall(b"0\r\n\r\n")
            except OSError:
                self._abort()
                raise
        self.ended = True

    def fail(self, error: BaseException) -> None:
        logger.error(
            "The streamed response to %s %s failed after it started (%s); closing the "
            "connection without the last chunk",
            self.handler.command,
            self.handler.path,
            "".join(traceback.format_exception_only(type(error), error)).strip(),
        )
        self._abort()

    def _abort(self) -> None:
        # The response is incomplete: the client must see the connection end now, not after
        # the app has returned.
        self.aborted = True
        self.handler.close_connection = True
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)


def _check_stage(fmt: str, stage: str | None) -> None:
    if stage is not None and fmt not in STAGED:
        raise CLIError(f"--stage applies to the API Gateway formats v1 and v2, not {fmt}")


def _invoke_mode(given: str | None) -> str:
    """--invoke-mode, else MANGUM_LIKE_INVOKE_MODE as the runtime loop reads it, else buffered."""
    if given is not None:
        return given
    mode = (os.environ.get(INVOKE_MODE_ENV) or "buffered").strip().lower()
    if mode not in INVOKE_MODES:
        raise CLIError(
            f"{INVOKE_MODE_ENV} must be one of {', '.join(INVOKE_MODES)}, got {mode!r} "
            "(or pass --invoke-mode)"
        )
    return mode


def _serve(args: argparse.Namespace) -> int:
    _check_stage(args.format, args.stage)
    # The dev server writes one access line per request (mangum_like.cli.access, which also
    # covers the answers given without an invocation); the handler's own would repeat it.
    logging.getLogger("mangum_like.http").setLevel(logging.WARNING)
    mode = _invoke_mode(args.invoke_mode)
    if args.reload:
        return _supervise([arg for arg in args.argv if arg != "--reload"])
    function = Function.load(args.target, base_path=args.base_path, backend=args.backend)
    try:
        server = DevServer(
            function,
            args.format,
            host=args.host,
            port=args.port,
            stage=args.stage,
            timeout=args.timeout,
            invoke_mode=mode,
        )
    except OSError as exc:
        raise CLIError(
            f"Cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", 1
        ) from exc
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # As uvicorn does: the first signal shuts down gracefully (the request in flight ends,
        # then the lifespan shuts down), a second one stops at once. Written straight to
        # stderr: a signal handler must not wait for the logging module's locks.
        if stop.is_set():
            _say("Stopping at once: the app's lifespan shutdown is skipped")
            os._exit(128 + signum)  # 130 after Ctrl-C
        stop.set()
        request = server.in_flight
        waiting = (
            f"waiting for {request.method} {request.target} to finish, then " if request else ""
        )
        _say(f"Shutting down: {waiting}the app's lifespan shutdown (Ctrl-C again to stop at once)")
        if signum == signal.SIGTERM:
            # A supervisor's SIGTERM is followed by a SIGKILL: end within a grace period.
            watchdog = threading.Timer(args.shutdown_grace, _grace_over, (args.shutdown_grace,))
            watchdog.daemon = True
            watchdog.start()

    previous: dict[int, Any] = {}
    try:
        function.start()
        previous = {
            signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
        }
        if function.mangum is not None and args.blocked_loop_warning > 0:
            watch = threading.Thread(
                target=_watch_the_loop,
                args=(server, function.mangum, args.blocked_loop_warning, stop),
                name="mangum_like-loop-watch",
                daemon=True,
            )
            watch.start()
        thread = threading.Thread(target=server.serve_forever, name="mangum_like-serve")
        thread.start()
        if mode == "response_stream":
            _explain_streaming(server)
        streamed = ", responses streamed," if server.streaming is not None else ""
        print(
            f"Serving {args.target} as {FORMATS[args.format]} events{streamed} on {server.url} "
            "(Ctrl-C to stop)",
            flush=True,
        )
        try:
            while not stop.is_set():
                stop.wait(0.2)
        finally:
            server.shutdown()
            thread.join()
    finally:
        server.server_close()
        with server.invocation:
            function.stop()
        # Restored only now: a second signal must not cut the lifespan shutdown short.
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("Stopped; the app's lifespan has shut down")
    return 0


def _watch_the_loop(
    server: DevServer, mangum: Mangum, threshold: float, stop: threading.Event
) -> None:
    """Warn when a request keeps the event loop from running for ``threshold`` seconds or more.

    A synchronous call inside ``async def`` (boto3, requests, time.sleep) stops every other
    task, and on Lambda the deadline guard, a task on that loop too, cannot cut such a request
    short: it runs into the function's hard timeout. Here, while a request is in flight, a
    callback is sent to the loop; a loop that runs takes it within microseconds. Only ``serve``
    runs this: Lambda's per-invocation path pays nothing for it.
    """
    runtime = mangum._environment.runtime
    while not stop.wait(0.05):
        request = server.in_flight
        if request is None:
            continue
        taken = threading.Event()
        sent = time.monotonic()
        runtime.call_soon_threadsafe(taken.set)
        if taken.wait(threshold) or server.in_flight is not request:
            continue
        # Blocked: measure until the loop takes the callback or the request is over.
        while not taken.wait(0.02) and server.in_flight is request:
            pass
        logger.warning(
            "%s %s blocked the event loop for %.1f s: a synchronous call inside async code "
            "(boto3, requests, time.sleep, ...) stops every other task, and on Lambda the "
            "deadline guard cannot cut such a request short (it runs into the function's "
            "timeout). Run it with anyio.to_thread.run_sync or use an async client.",
            request.method,
            request.target,
            time.monotonic() - sent,
        )
        while server.in_flight is request and not stop.wait(0.05):
            pass  # one warning per request


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        sys.stdout.flush()
        os.write(sys.stderr.fileno(), f"{line}\n".encode())


def _grace_over(seconds: float) -> None:
    _say(f"Stopping at once: the {seconds:g} s grace period after SIGTERM is over")
    os._exit(128 + signal.SIGTERM)


def _explain_streaming(server: DevServer) -> None:
    """Say once why responses will not stream, or where AWS would not stream them."""
    if server.fmt not in STREAMED:
        logger.warning(
            "response_stream: %s responses are buffered, as that service cannot stream them "
            "(streamed formats: %s)",
            server.fmt,
            ", ".join(STREAMED),
        )
    elif server.streaming is None:
        logger.warning(
            "response_stream needs an ASGI app or a Mangum handler; a plain handler's "
            "results are answered buffered"
        )
    elif server.fmt == "v2":
        logger.warning(
            "response_stream with v2: on AWS an HTTP API buffers every response (API Gateway "
            "streams REST APIs only); serve --format url to stream as a function URL does"
        )


# Directories never searched for changed sources: virtual environments hold a pyvenv.cfg.
_UNWATCHED = frozenset({"__pycache__", "node_modules", "site-packages"})


def _sources(root: Path) -> dict[str, int]:
    """Modification times of the .py files under ``root``, outside hidden dirs and venvs."""
    found: dict[str, int] = {}
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = [
            name
            for name in subdirs
            if not name.startswith(".")
            and name not in _UNWATCHED
            and not os.path.exists(os.path.join(directory, name, "pyvenv.cfg"))
        ]
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with contextlib.suppress(OSError):  # removed since the listing
                    found[path] = os.stat(path).st_mtime_ns
    return found


def _reap(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def _supervise(argv: list[str]) -> int:
    """``serve --reload``: the server runs in a child process, restarted on source changes.

    A new process (not a re-import) gives every change a clean start: a fresh module state and
    a fresh lifespan, as a new Lambda execution environment would.
    """
    command = [sys.executable, "-m", "mangum_like", *argv]
    root = Path.cwd()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {
        signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        while not stop.is_set():
            snapshot = _sources(root)
            child = subprocess.Popen(command)
            exited = False
            while not stop.wait(0.5):
                if not exited and child.poll() is not None:
                    exited = True
                    logger.warning(
                        "The server exited with status %d; waiting for a change to restart it",
                        child.returncode,
                    )
                current = _sources(root)
                if current != snapshot:
                    changed = sorted(set(current.items()) ^ set(snapshot.items()))
                    logger.info("%s changed; restarting", changed[0][0])
                    break
            _reap(child)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


# -- invoke and event -----------------------------------------------------------------------------


def _synthesised(args: argparse.Namespace) -> dict[str, Any]:
    fmt = args.format or "v2"
    _check_stage(fmt, args.stage)
    body: bytes = b""
    if args.body is not None:
        if args.body.startswith("@"):
            try:
                body = Path(args.body[1:]).read_bytes()
            except OSError as exc:
                raise CLIError(f"Cannot read the body file {args.body[1:]!r}: {exc}") from exc
        else:
            body = args.body.encode("utf-8")
    path = args.path if args.path.startswith("/") else "/" + args.path
    if args.stage:
        path = f"/{args.stage}{path}"  # the execute-api URL starts with the stage
    request = sample_request(fmt, args.method, path, args.header, body)
    return build_event(fmt, request, stage=args.stage)


def _event_file(name: str) -> str:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except OSError as exc:
        raise CLIError(f"Cannot read the event file {name!r}: {exc.strerror or exc}") from exc
    try:
        json.loads(text)
    except ValueError as exc:
        source = "standard input" if name == "-" else repr(name)
        raise CLIError(f"The event in {source} is not valid JSON: {exc}") from exc
    return text


def _invoke(args: argparse.Namespace) -> int:
    synthesis = [
        option
        for option, value in (
            ("--method", args.method != "GET"),
            ("--path", args.path != "/"),
            ("--header", bool(args.header)),
            ("--body", args.body is not None),
            ("--format", args.format is not None),
            ("--stage", args.stage is not None),
        )
        if value
    ]
    if args.event is not None and synthesis:
        raise CLIError(
            f"{', '.join(synthesis)} build an event; they cannot be combined with EVENT_FILE"
        )
    payload = _event_file(args.event) if args.event is not None else json.dumps(_synthesised(args))
    out = sys.stdout
    # What the function prints goes to Lambda's logs, not into the result: here, to stderr,
    # so that standard output holds the result's JSON alone.
    with contextlib.redirect_stdout(sys.stderr):
        function = Function.load(args.target, base_path=args.base_path, backend=args.backend)
        try:
            function.start()
            context = LambdaContext.local(args.timeout)
            try:
                result = invoke(function, payload, context)
            except InvocationError as exc:
                result = exc.as_result(context.aws_request_id)
                status = 1
            else:
                status = 0
        finally:
            function.stop()
    print(json.dumps(result, indent=2), file=out)
    return status


def _event(args: argparse.Namespace) -> int:
    print(json.dumps(_synthesised(args), indent=2))
    return 0


# -- the command line -----------------------------------------------------------------------------


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def _non_negative_seconds(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else _seconds(text)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def _stage(text: str) -> str:
    stage = text.strip("/")
    if not stage or "/" in stage or stage == "$default":
        raise argparse.ArgumentTypeError(
            f"expected a stage name such as Prod (no slashes; $default is the default), "
            f"got {text!r}"
        )
    return stage


def _parser() -> argparse.ArgumentParser:
    formats = ", ".join(f"{name} ({text})" for name, text in FORMATS.items())
    parser = argparse.ArgumentParser(
        prog="mangum-like",
        description="Run an ASGI app or a Lambda handler locally, as AWS Lambda runs it.",
    )
    parser.add_argument("--version", action="version", version=f"mangum-like {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def target(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "target",
            metavar="MODULE:ATTR",
            help="an ASGI app, a Mangum handler or a def handler(event, context), "
            "such as app.main:app; the current directory is on sys.path",
        )

    def handler_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--base-path",
            help="the app's api_gateway_base_path, as on a custom-domain API mapping "
            "(an ASGI app only)",
        )
        sub.add_argument(
            "--backend", choices=("asyncio", "trio"), help="the event loop (an ASGI app only)"
        )
        sub.add_argument(
            "--timeout",
            type=_seconds,
            default=30.0,
            help="the function timeout the context counts down from (default: 30 seconds)",
        )

    def log_level(sub: argparse.ArgumentParser, default: str) -> None:
        sub.add_argument(
            "--log-level",
            choices=LOG_LEVELS,
            default=default,
            help=f"the root logger's level, for the app's own log lines (default: {default})",
        )

    def event_options(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--method", default="GET", type=str.upper, help="default: GET")
        sub.add_argument("--path", default="/", help="the path and query, such as /items?q=1")
        sub.add_argument(
            "--header",
            "-H",
            action="append",
            type=_header,
            default=[],
            metavar="'NAME: VALUE'",
            help="a request header; repeat for more",
        )
        sub.add_argument("--body", help="the request body; @FILE reads it from a file")
        sub.add_argument(
            "--stage",
            type=_stage,
            help="(v1, v2) the API stage the URL starts with, as on the execute-api endpoint",
        )

    serve = commands.add_parser(
        "serve",
        help="serve the app over HTTP, each request an event of the chosen format",
        description="Serve the app over HTTP on 127.0.0.1: each request becomes an event of "
        f"--format, goes through the handler, and the result becomes the response. {formats}.",
    )
    target(serve)
    serve.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    serve.add_argument(
        "--reload",
        action="store_true",
        help="restart the server when a .py file under the current directory changes",
    )
    serve.add_argument("--port", type=_port, default=8000, help="default: 8000; 0 picks one")
    serve.add_argument("--format", choices=tuple(FORMATS), default="v2", help="default: v2")
    serve.add_argument(
        "--stage",
        type=_stage,
        help="(v1, v2) serve the API's execute-api URLs, which start with this stage",
    )
    serve.add_argument(
        "--invoke-mode",
        choices=INVOKE_MODES,
        help="response_stream: stream each response to the client as the app sends it "
        "(chunked), as a function URL in RESPONSE_STREAM mode or a REST API in STREAM mode "
        f"does (formats {', '.join(STREAMED)}); default: ${INVOKE_MODE_ENV}, else buffered",
    )
    handler_options(serve)
    serve.add_argument(
        "--blocked-loop-warning",
        type=_non_negative_seconds,
        default=0.5,
        metavar="SECONDS",
        help="warn when a request keeps the event loop from running this long (default: 0.5; "
        "0 turns it off)",
    )
    serve.add_argument(
        "--shutdown-grace",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="after SIGTERM, how long the request in flight and the lifespan shutdown may take "
        "before the server stops at once (default: 10)",
    )
    log_level(serve, "info")
    serve.set_defaults(run=_serve)

    invoke_parser = commands.add_parser(
        "invoke",
        help="run one event through the handler and print the result as JSON",
        description="Run one event through the handler and print the result as JSON. The "
        "event comes from EVENT_FILE, from standard input with -, or is built from --method, "
        "--path, --header and --body in --format (default v2).",
    )
    target(invoke_parser)
    invoke_parser.add_argument("event", nargs="?", metavar="EVENT_FILE | -")
    invoke_parser.add_argument("--format", choices=tuple(FORMATS), help="default: v2")
    event_options(invoke_parser)
    handler_options(invoke_parser)
    log_level(invoke_parser, "warning")
    invoke_parser.set_defaults(run=_invoke)

    event_parser = commands.add_parser(
        "event",
        help="print a sample event of a format",
        description=f"Print a sample event, for invoke, sam local invoke or the Lambda "
        f"console. Formats: {formats}.",
    )
    event_parser.add_argument("format", choices=tuple(FORMATS), metavar="FORMAT")
    event_options(event_parser)
    event_parser.set_defaults(run=_event)
    return parser


LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _setup_logging(level: str | None) -> None:
    # The CLI's own lines (its access line, warnings) go to stderr; the app's and the adapter's
    # through the root logger, at --log-level (as uvicorn's --log-level sets it), unless the
    # user configured logging.
    if not logger.handlers:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        logger.addHandler(stream)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    if not logging.root.handlers:
        logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    if level is not None:
        logging.root.setLevel(level.upper())
    elif logging.root.level == logging.NOTSET:
        logging.root.setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    """The ``mangum-like`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    args.argv = argv
    _setup_logging(getattr(args, "log_level", None))
    try:
        status: int = args.run(args)
    except CLIError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`mangum-like event v2 | head`): say nothing more, and keep the
        # interpreter's final flush of stdout from failing again.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return status
