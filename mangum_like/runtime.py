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
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from ._rapi import RUNTIME_API_ENV, RUNTIME_PATH, Connection, RuntimeAPIError

if TYPE_CHECKING:
    from ._adapter import Mangum

__all__ = ["LambdaContext", "main"]

logger = logging.getLogger("mangum_like.runtime")

INVOKE_MODE_ENV = "MANGUM_LIKE_INVOKE_MODE"
_INVOKE_MODES = ("buffered", "response_stream")

ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY = "Lambda-Runtime-Function-Error-Body"
XRAY_ERROR_CAUSE = "Lambda-Runtime-Function-XRay-Error-Cause"
_XRAY_CAUSE_MAX = 1024 * 1024  # the official client drops a larger cause rather than fail

# The official client's error types for a handler it cannot load (awslambdaric's FaultException).
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"
MARSHAL_ERROR = "Runtime.MarshalError"
CONTEXT_UNMARSHAL_ERROR = "Runtime.LambdaContextUnmarshalError"
BEFORE_SNAPSHOT_ERROR = "Runtime.BeforeSnapshotError"
AFTER_RESTORE_ERROR = "Runtime.AfterRestoreError"

# AWS_EXECUTION_ENV values of the runtimes on which the official client writes results with
# ensure_ascii=False (UTF-8 as it is): python3.12 and later. On earlier ones it escapes every
# non-ASCII character.
_UTF8_RUNTIMES = frozenset(f"AWS_Lambda_python3.{minor}" for minor in range(12, 20))


# -- the context object -------------------------------------------------------------------------


class CognitoIdentity:
    """``context.identity``: the Amazon Cognito identity of a mobile-SDK caller, if any."""

    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, identity: dict[str, Any] | None = None) -> None:
        identity = identity or {}
        self.cognito_identity_id: str | None = identity.get("cognitoIdentityId")
        self.cognito_identity_pool_id: str | None = identity.get("cognitoIdentityPoolId")

    def __repr__(self) -> str:
        return (
            f"CognitoIdentity([cognito_identity_id={self.cognito_identity_id},"
            f"cognito_identity_pool_id={self.cognito_identity_pool_id}])"
        )


class Client:
    """``context.client_context.client``: the mobile app that invoked the function."""

    __slots__ = (
        "app_package_name",
        "app_title",
        "app_version_code",
        "app_version_name",
        "installation_id",
    )

    def __init__(self, client: dict[str, Any]) -> None:
        self.installation_id: Any = client.get("installation_id")
        self.app_title: Any = client.get("app_title")
        self.app_version_name: Any = client.get("app_version_name")
        self.app_version_code: Any = client.get("app_version_code")
        self.app_package_name: Any = client.get("app_package_name")

    def __repr__(self) -> str:
        return (
            f"Client([installation_id={self.installation_id},app_title={self.app_title},"
            f"app_version_name={self.app_version_name},"
            f"app_version_code={self.app_version_code},"
            f"app_package_name={self.app_package_name}])"
        )


class ClientContext:
    """``context.client_context``: what the invoking client passed (``custom``, ``env``)."""

    __slots__ = ("client", "custom", "env")

    def __init__(self, context: dict[str, Any]) -> None:
        self.custom: Any = context.get("custom")
        self.env: Any = context.get("env")
        client = context.get("client")
        self.client: Client | None = Client(client) if isinstance(client, dict) else client

    def __repr__(self) -> str:
        return f"ClientContext([custom={self.custom},env={self.env},client={self.client}])"


class LambdaContext:
    """The context object handed to the handler, with the official Python runtime's attributes.

    ``memory_limit_in_mb`` and ``function_version`` are strings, as the official client reads
    them from the environment.
    """

    __slots__ = (
        "_deadline_ms",
        "aws_request_id",
        "client_context",
        "function_name",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "tenant_id",
    )

    def __init__(
        self,
        aws_request_id: str,
        deadline_ms: int,
        invoked_function_arn: str | None = None,
        client_context: dict[str, Any] | None = None,
        identity: dict[str, Any] | None = None,
        tenant_id: str | None = None,
        environ: dict[str, str | None] | None = None,
    ) -> None:
        env = _FUNCTION_ENV if environ is None else environ
        self.aws_request_id = aws_request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.tenant_id = tenant_id
        self.identity = CognitoIdentity(identity)
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before Lambda's deadline for this invocation (never negative)."""
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, message: str) -> None:
        """Write ``message`` to the function's log, as the official context does."""
        sys.stdout.write(str(message))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"log_group_name={self.log_group_name},log_stream_name={self.log_stream_name},"
            f"function_name={self.function_name},memory_limit_in_mb={self.memory_limit_in_mb},"
            f"function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn},"
            f"client_context={self.client_context},identity={self.identity},"
            f"tenant_id={self.tenant_id}])"
        )


# Read once: Lambda sets these before the runtime starts and they never change.
_FUNCTION_ENV: dict[str, str | None] = {}


def _read_function_env() -> None:
    for name in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ):
        _FUNCTION_ENV[name] = os.environ.get(name)


# -- loading the handler ------------------------------------------------------------------------


class FaultError(Exception):
    """A failure the runtime reports with one of the official ``Runtime.*`` error types."""

    def __init__(self, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


def load_handler(name: str) -> Any:
    """The object ``name`` (``module.attr`` or ``module:attr``) names; ``FaultError`` if none."""
    if ":" in name:
        module_name, _, attr = name.partition(":")
    else:
        module_name, _, attr = name.rpartition(".")
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
    target: Any = module
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise FaultError(
                HANDLER_NOT_FOUND, f"Handler '{attr}' missing on module '{module_name}'"
            ) from None
    return target


def _is_asgi_app(target: Any) -> bool:
    """Whether ``target`` is an ASGI application rather than a ``handler(event, context)``.

    ASGI apps are coroutine functions or objects with an ``async def __call__`` (Starlette,
    FastAPI, Django's ASGIHandler, Quart), or take the three ASGI arguments.
    """
    import inspect

    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 (an object's __call__, on purpose)
    ):
        return True
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 3


def make_handler(target: Any) -> Callable[[Any, Any], Any]:
    """The Lambda handler for what HANDLER names: a bare ASGI app is wrapped in ``Mangum``."""
    from ._adapter import Mangum

    if isinstance(target, Mangum) or not _is_asgi_app(target):
        if not callable(target):
            raise FaultError(
                HANDLER_NOT_FOUND, f"Handler {target!r} is not callable (a function or an app)"
            )
        handler: Callable[[Any, Any], Any] = target
        return handler
    return Mangum(target)


# -- results and errors as the official client writes them ----------------------------------------


def to_json(result: Any, ensure_ascii: bool) -> str:
    """``result`` serialised to the very text the official client produces.

    The official client uses simplejson with its default separators (``", "``, ``": "``),
    ``allow_nan=True`` and Decimal written as its own digits (``1.10``, not ``1.1``), NaN
    Decimals as ``NaN``. The standard library's encoder gives the same text for every JSON type;
    Decimals are written through placeholders replaced afterwards. One difference is left: a
    namedtuple, which simplejson writes as an object, is written as a list here (the standard
    library encodes tuples itself, without asking ``default``).
    """
    decimals: list[str] = []

    def default(value: Any) -> Any:
        import decimal

        if isinstance(value, decimal.Decimal):
            decimals.append("NaN" if value.is_nan() else str(value))
            return _DECIMAL_MARK
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    text = json.dumps(result, ensure_ascii=ensure_ascii, allow_nan=True, default=default)
    if decimals:
        parts = text.split(_DECIMAL_QUOTED)
        if len(parts) == len(decimals) + 1:
            text = "".join(
                part + (decimals[index] if index < len(decimals) else "")
                for index, part in enumerate(parts)
            )
    return text


# A string no result contains; written quoted, then swapped for the Decimal's digits.
_DECIMAL_MARK = "\x00mangum_like.decimal\x00"
_DECIMAL_QUOTED = json.dumps(_DECIMAL_MARK)


def error_result(
    exc: BaseException, request_id: str | None = None, skip: str = __file__
) -> dict[str, Any]:
    """The official error document of ``exc``: errorMessage, errorType, requestId, stackTrace.

    The stack trace starts at the first frame outside this runtime, as the official one starts
    at the first frame outside its bootstrap.
    """
    import traceback

    if isinstance(exc, FaultError):
        message, error_type, trace = exc.message, exc.error_type, exc.trace
    else:
        frames: list[traceback.FrameSummary] = list(traceback.extract_tb(exc.__traceback__))
        for index, frame in enumerate(frames):
            if frame.filename != skip:
                frames = frames[index:]
                break
        message, error_type = str(exc), type(exc).__name__
        trace = traceback.format_list(frames)
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace,
    }


def _xray_cause(exc: BaseException, error: dict[str, Any]) -> str:
    """The X-Ray error cause the official client sends with an invocation error."""
    import traceback

    stack = []
    paths = []
    if not isinstance(exc, FaultError):
        for frame in traceback.extract_tb(exc.__traceback__):
            stack.append({"label": frame.name, "path": frame.filename, "line": frame.lineno})
            if frame.filename not in paths:
                paths.append(frame.filename)
    cause = {
        "working_directory": os.getcwd(),
        "exceptions": [
            {"message": error["errorMessage"], "type": error["errorType"], "stack": stack}
        ],
        "paths": paths,
    }
    return json.dumps(cause)


# -- the loop -----------------------------------------------------------------------------------


class RuntimeLoop:
    """Takes invocations from the Runtime API, one at a time, and posts what the handler gives."""

    def __init__(
        self,
        connection: Connection,
        handler: Callable[[Any, Any], Any],
        invoke_mode: str = "buffered",
        ensure_ascii: bool = True,
    ) -> None:
        self.connection = connection
        self.handler = handler
        self.ensure_ascii = ensure_ascii
        self.stream: Callable[..., Any] | None = None
        # A Mangum handler answers first and finishes after: its result is posted the moment
        # the app's response is complete, and the next invocation is asked for once the app
        # has returned (BackgroundTasks run in between, as Lambda keeps the environment
        # running until /next).
        self.early: Mangum | None = None
        self._host = connection.address.encode("latin-1")
        self._next_request = b"GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (_NEXT.encode(), self._host)
        from ._adapter import Mangum

        if invoke_mode == "response_stream" and isinstance(handler, Mangum):
            self.stream = handler.stream
        elif isinstance(handler, Mangum):
            self.early = handler
        elif invoke_mode == "response_stream":
            logger.warning(
                "%s=response_stream needs a Mangum handler or an ASGI app; %r answers buffered",
                INVOKE_MODE_ENV,
                handler,
            )

    def run(self, limit: int | None = None) -> None:
        """Serve invocations; ``limit`` bounds how many (for tests), None serves for ever."""
        served = 0
        while limit is None or served < limit:
            self.serve_one()
            served += 1

    def serve_one(self) -> None:
        connection = self.connection
        status, headers, body = self._exchange(self._next_request)
        if status != 200:
            # Lambda answers /next with an error only when the environment cannot go on; the
            # official client exits too, and Lambda starts a fresh environment.
            raise RuntimeAPIError("GET", _NEXT, status, body)
        request_id = headers.get("lambda-runtime-aws-request-id") or ""
        global _current_request_id
        _current_request_id = request_id
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
            stream = self.stream
            if stream is not None:
                writer = StreamedResponse(connection, request_id)
                try:
                    result = stream(event, context, writer)
                except Exception as exc:
                    if not writer.started:
                        raise
                    _end_failed(writer, exc)
                    return
                if result is None:
                    return  # the response went out through the writer
            elif self.early is not None:
                self._answer_first(self.early, request_id, event, context)
                return
            else:
                result = self.handler(event, context)
        except Exception as exc:
            self._post_error(request_id, exc)
            return
        self._post_result(request_id, result)

    def _answer_first(self, handler: Mangum, request_id: str, event: Any, context: Any) -> None:
        """Run one invocation whose result is posted as soon as the app's response is complete;
        return once the app has returned."""
        from ._invocation import Early, invoke

        posted = False

        def deliver(answer: Callable[[], Any]) -> None:
            nonlocal posted
            posted = True
            try:
                result = answer()
            except Exception as exc:
                self._post_error(request_id, exc)
                return
            self._post_result(request_id, result)

        try:
            invoke(handler, event, context, Early(deliver))
        except Exception:
            if not posted:
                raise  # the invocation's error
            logger.exception("The invocation failed after its result was posted")

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
        request = b"POST %s/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n" % (
            _RUNTIME_PATH_BYTES,
            request_id.encode("latin-1"),
            self._host,
        )
        status, _, answer = self._exchange(
            b"%bContent-Type: %b\r\nContent-Length: %d\r\n\r\n%b"
            % (request, content_type.encode(), len(payload), payload)
        )
        if status != 202:
            logger.error(
                "The Runtime API refused the result of invocation %s: %s %s",
                request_id,
                status,
                answer[:300].decode(errors="replace"),
            )

    def _exchange(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        """Send one whole request in one write and read the answer, on the kept-alive connection.

        The two requests of every invocation (``/next`` and ``/response``) take this path, which
        costs about half of ``HTTPConnection.request`` and ``getresponse``: the request goes out
        whole (``request`` writes headers and body apart: two packets, two wake-ups of the
        Runtime API), and the answer, a status line, a few headers and a body of known length
        from a local server, is read without the e-mail header parser.
        """
        client = self.connection.http
        for attempt in (0, 1):
            if client.sock is None:
                client.connect()
            sock = client.sock
            try:
                sock.sendall(request)
                # A reader for this answer only, as http.client has: one kept open would keep
                # the socket's descriptor open after the connection is closed.
                with sock.makefile("rb") as reader:
                    status, headers, body = _read_answer(reader)
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The API closed the kept-alive connection since its last use: reopen, once.
                client.close()
                if attempt:
                    raise
                continue
            if headers.get("connection", "").lower() == "close":
                client.close()
            return status, headers, body
        raise AssertionError("unreachable")  # pragma: no cover

    def _post_error(self, request_id: str, exc: BaseException) -> None:
        error = error_result(exc, request_id)
        logger.error(
            "%s: %s\n%s",
            error["errorType"],
            error["errorMessage"],
            "".join(error["stackTrace"]),
        )
        headers = {"Content-Type": "application/json", ERROR_TYPE: error["errorType"]}
        cause = _xray_cause(exc, error)
        if len(cause) < _XRAY_CAUSE_MAX:
            headers[XRAY_ERROR_CAUSE] = cause
        path = f"{RUNTIME_PATH}/invocation/{request_id}/error"
        body = to_json(error, self.ensure_ascii).encode("utf-8")
        answer = self.connection.request("POST", path, body, headers)
        if answer.status != 202:
            logger.error(
                "The Runtime API refused the error of invocation %s: %s %s",
                request_id,
                answer.status,
                answer.body[:300].decode(errors="replace"),
            )


_NEXT = f"{RUNTIME_PATH}/invocation/next"
_RUNTIME_PATH_BYTES = RUNTIME_PATH.encode()


def _read_answer(reader: Any) -> tuple[int, dict[str, str], bytes]:
    """Status, headers (lower-cased names) and body of one HTTP/1.1 answer (RFC 9112)."""
    line = reader.readline(_LINE_MAX)
    if not line:
        raise http.client.RemoteDisconnected("the Runtime API closed the connection")
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise http.client.BadStatusLine(repr(line))
    headers: dict[str, str] = {}
    while True:
        line = reader.readline(_LINE_MAX)
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        pieces = []
        while size := int(reader.readline(_LINE_MAX).split(b";", 1)[0], 16):
            pieces.append(reader.read(size))
            reader.readline(_LINE_MAX)
        while reader.readline(_LINE_MAX) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return int(parts[1]), headers, b"".join(pieces)
    length = int(headers.get("content-length") or 0)
    body: bytes = reader.read(length) if length else b""
    if len(body) < length:
        raise http.client.IncompleteRead(body, length - len(body))
    return int(parts[1]), headers, body


_LINE_MAX = 65536 + 1


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

    __slots__ = ("broken", "connection", "finished", "path", "started")

    def __init__(self, connection: Connection, request_id: str) -> None:
        self.connection = connection
        self.path = f"{RUNTIME_PATH}/invocation/{request_id}/response"
        self.started = False
        self.finished = False
        self.broken = False

    def start(self, prelude: bytes) -> None:
        client = self.connection.http
        self.started = True
        try:
            client.putrequest("POST", self.path, skip_accept_encoding=True)
            client.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
            client.putheader("Transfer-Encoding", "chunked")
            client.putheader("Content-Type", HTTP_INTEGRATION_RESPONSE)
            client.putheader("Trailer", f"{ERROR_TYPE}, {ERROR_BODY}")
            client.endheaders()
        except OSError:
            self._broken()
            raise
        self.write(prelude)

    def write(self, chunk: bytes) -> None:
        size = len(chunk)
        if not size:
            return  # an empty chunk would end the body
        sock = self.connection.http.sock
        try:
            if size <= _COPY_LIMIT:
                sock.sendall(b"%x\r\n%b\r\n" % (size, chunk))
            else:  # large: no copy of the data, three writes (TCP_NODELAY is on)
                sock.sendall(b"%x\r\n" % size)
                sock.sendall(chunk)
                sock.sendall(b"\r\n")
        except (OSError, AttributeError) as exc:  # AttributeError: the socket is gone
            self._broken()
            raise ConnectionError(f"the response stream to the Runtime API broke: {exc}") from exc

    def end(self) -> None:
        self._finish(b"0\r\n\r\n")

    def fail(self, error: BaseException) -> None:
        import base64

        document = error_result(error)
        document.pop("requestId")
        body = base64.b64encode(json.dumps(document).encode("utf-8"))
        error_type = document["errorType"].encode("latin-1", "replace")
        self._finish(
            b"0\r\n%b: %b\r\n%b: %b\r\n\r\n"
            % (ERROR_TYPE.encode(), error_type, ERROR_BODY.encode(), body)
        )

    def _finish(self, last: bytes) -> None:
        if self.finished:
            return
        self.finished = True
        client = self.connection.http
        try:
            client.sock.sendall(last)
            response = client.getresponse()
            body = response.read()
        except (OSError, AttributeError, http.client.HTTPException) as exc:
            self._broken()
            raise ConnectionError(f"the response stream to the Runtime API broke: {exc}") from exc
        if response.status != 202:
            logger.error(
                "The Runtime API refused the streamed response: %s %s",
                response.status,
                body[:300].decode(errors="replace"),
            )

    def _broken(self) -> None:
        self.broken = self.finished = True
        # The request is half-sent: the connection cannot carry another one.
        self.connection.http.close()


HTTP_INTEGRATION_RESPONSE = "application/vnd.awslambda.http-integration-response"
_COPY_LIMIT = 64 * 1024  # up to this size a chunk is framed by copying, in one write


# -- start-up -----------------------------------------------------------------------------------


def _setup_logging(root: logging.Logger | None = None) -> None:
    """Send log records where the official client sends them, in its text format, unless the
    root logger has a handler already.

    ``[LEVEL]\t2026-11-21T05:00:00.000Z\t<request id>\tmessage``. On the managed runtimes Lambda
    passes a telemetry pipe in ``_LAMBDA_TELEMETRY_LOG_FD``: records go there as frames, so that
    a multi-line record (a traceback) stays one log event; elsewhere they go to stdout. The
    level follows ``AWS_LAMBDA_LOG_LEVEL`` when it is set.
    """
    if root is None:
        root = logging.getLogger()
    if root.handlers:
        return
    descriptor = os.environ.pop("_LAMBDA_TELEMETRY_LOG_FD", None)
    handler: logging.Handler
    if descriptor is not None and descriptor.isdigit():
        handler = TelemetryLogHandler(int(descriptor))
    else:
        handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_add_request_id)
    root.addHandler(handler)
    # As under the official client: the root logger keeps Python's default level (WARNING)
    # unless the function's logging configuration sets one.
    level = logging.getLevelName((os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper())
    if isinstance(level, int):
        root.setLevel(level)


class TelemetryLogHandler(logging.Handler):
    """Writes records to Lambda's telemetry pipe, one frame each.

    A frame is a 4-byte type (text records: ``0xA55A0003``, plus a level marker), the 4-byte
    length of the message, an 8-byte timestamp in microseconds, then the UTF-8 message, all
    big-endian: the framing the official client uses for the same pipe.
    """

    def __init__(self, descriptor: int) -> None:
        super().__init__()
        self.file = os.fdopen(descriptor, "wb", 0)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record).encode("utf-8", "replace")
            level = min(50, max(0, record.levelno)) // 10 * 10
            header = (_FRAME_TYPES.get(level, _FRAME_TYPES[0]) << 96) | (len(message) << 64)
            header |= int(record.created * 1_000_000)
            self.file.write(header.to_bytes(16, "big") + message)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.file.close()
        super().close()


# Frame types of text records by level.
_FRAME_TYPES = {
    logging.NOTSET: 0xA55A0003,
    logging.DEBUG: 0xA55A000B,
    logging.INFO: 0xA55A000F,
    logging.WARNING: 0xA55A0013,
    logging.ERROR: 0xA55A0017,
    logging.CRITICAL: 0xA55A001B,
}


def _add_request_id(record: logging.LogRecord) -> bool:
    record.aws_request_id = _current_request_id
    return True


_current_request_id = ""  # the invocation being served, for log lines


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the runtime loop for the handler named in ``argv[0]`` or ``_HANDLER``; never returns."""
    args = list(sys.argv[1:] if argv is None else argv)
    # Lambda's Python runtimes leave stdout unbuffered, so that print() reaches the log at once.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError):  # a stream that is not a TextIOWrapper
            stream.reconfigure(line_buffering=True, write_through=True)  # type: ignore[union-attr]
    _setup_logging()
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
    _read_function_env()
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
            handler = make_handler(load_handler(name))
        except Exception as exc:
            _post_init_error(connection, exc)
            raise SystemExit(1) from None
        if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
            _snapshot_and_restore(connection)
        ensure_ascii = os.environ.get("AWS_EXECUTION_ENV") not in _UTF8_RUNTIMES
        RuntimeLoop(connection, handler, mode, ensure_ascii).run()
    finally:
        connection.close()
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
    connection: Connection, exc: BaseException, error_type: str | None = None
) -> None:
    error = error_result(exc)
    logger.error(
        "%s: %s\n%s",
        error["errorType"],
        error["errorMessage"],
        "".join(error["stackTrace"]),
    )
    connection.request(
        "POST",
        f"{RUNTIME_PATH}/init/error",
        to_json(error, os.environ.get("AWS_EXECUTION_ENV") not in _UTF8_RUNTIMES).encode("utf-8"),
        {"Content-Type": "application/json", ERROR_TYPE: error_type or error["errorType"]},
    )


if __name__ == "__main__":
    main()
