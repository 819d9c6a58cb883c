"""The dev server of ``mangum-like serve``: each HTTP request an event, each result a response.

One invocation at a time, as in one Lambda execution environment; buffered or streamed
responses; the answers the services give without invoking the function (413, stage errors).
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .._adapter import Mangum
from .._invocation import Early
from .._invocation import invoke as run_invocation
from .._lambda.context import LambdaContext
from .._lambda.payload import MAX_EVENT_BYTES, MAX_STREAMED_BYTES
from .._lambda.stream import LAST_CHUNK, PRELUDE_DELIMITER, send_chunk
from .._local import (
    ALB_MAX_REQUEST_BODY_BYTES,
    STAGED,
    InvalidResult,
    Request,
    Response,
    build_event,
    parse_result,
    stage_error,
    status_line,
)
from ..runtime import _INVOKE_MODES as INVOKE_MODES
from ._function import Function, InvocationError, _failed, _returned, invoke

logger = logging.getLogger("mangum_like.cli")
access_logger = logging.getLogger("mangum_like.cli.access")


# Headers the server frames the response with itself.
_FRAMING = frozenset({"connection", "content-length", "keep-alive", "transfer-encoding"})

#: The formats whose service can stream a response to the client as the function writes it: a
#: function URL in RESPONSE_STREAM mode, and API Gateway in response transfer mode STREAM (the
#: payload 2.0 source streams alike; on AWS only REST APIs take that mode, HTTP APIs buffer).
STREAMED = ("v2", "url", "v1")


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

    @contextlib.contextmanager
    def _invoking(self, request: Request) -> Iterator[LambdaContext]:
        """One invocation at a time, as in one execution environment; its context."""
        with self.invocation:
            self.in_flight = request
            try:
                yield LambdaContext.local(self.function_timeout)
            finally:
                self.in_flight = None

    def respond(self, request: Request, send: Callable[[Response], None]) -> None:
        """Answer one request: its event through the handler, the result mapped and handed to
        ``send``, once.

        A Mangum handler's response is sent the moment the app completes it, as the runtime
        loop posts it to Lambda; this returns once the app has returned (BackgroundTasks,
        code after the last send), and only then does the next request get its turn, as the
        runtime asks for the next invocation only then.
        """
        payload = self._event(request)
        if isinstance(payload, Response):
            send(payload)
            return
        mangum = self.function.mangum
        with self._invoking(request) as context:
            if mangum is None:  # a plain handler returns its result whole
                try:
                    result = invoke(self.function, payload, context)
                except InvocationError as exc:
                    send(self._failed(exc))
                    return
                send(self._result(result))
                return
            sent = False

            def deliver(answer: Callable[[], Any]) -> None:
                nonlocal sent
                sent = True
                try:
                    result = _returned(answer())
                except InvocationError as exc:
                    send(self._failed(exc))
                    return
                except Exception as exc:
                    send(self._failed(_failed(exc)))
                    return
                send(self._result(result))

            try:
                run_invocation(mangum, json.loads(payload), context, Early(deliver))
            except Exception as exc:
                if sent:
                    logger.exception("The invocation failed after its response was sent")
                else:
                    send(self._failed(_failed(exc)))

    def stream(self, mangum: Mangum, request: Request, out: StreamedResponse) -> Response | None:
        """Invoke ``mangum`` (``self.streaming``) for one request, the response streamed to ``out``.

        Returns None once the response went to ``out``, else the response to send as usual:
        an answer without invocation (413, a stage error), a failure before the response
        started, or the buffered result of an event the handler answers buffered.
        """
        payload = self._event(request)
        if isinstance(payload, Response):
            return payload
        with self._invoking(request) as context:
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
            self.server.respond(request, lambda response: self._finish(response, started))
            return
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
        metadata = json.loads(prelude[: -len(PRELUDE_DELIMITER)])
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
        try:
            if self.chunked:
                send_chunk(self.sock, chunk)
            else:
                self.sock.sendall(chunk)
        except OSError:
            self._abort()
            raise

    def end(self) -> None:
        if self.chunked and not self.bodyless:
            try:
                self.sock.sendall(LAST_CHUNK)
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
