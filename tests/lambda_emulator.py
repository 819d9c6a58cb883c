"""A local AWS Lambda Runtime API and Extensions API, for running real runtimes in tests.

Only the standard library: ``http.server`` on 127.0.0.1, one thread per connection. A test starts
a runtime process (the official ``awslambdaric``, or our own loop) with ``start()``, hands it
events with ``invoke()``, and ends the execution environment with ``end_environment()`` the way
Lambda does.

The facts modelled here (AWS Lambda developer guide, "Using the Lambda runtime API for custom
runtimes", "Using the Lambda Extensions API", "Understanding the Lambda execution environment
lifecycle"):

- The runtime long-polls ``GET /2018-06-01/runtime/invocation/next``; the event is the body, and
  the headers ``Lambda-Runtime-Aws-Request-Id``, ``Lambda-Runtime-Deadline-Ms`` (epoch
  milliseconds), ``Lambda-Runtime-Invoked-Function-Arn``, ``Lambda-Runtime-Trace-Id`` and, when
  there are some, ``Lambda-Runtime-Client-Context`` / ``Lambda-Runtime-Cognito-Identity``
  describe it. The result goes to ``POST .../invocation/{id}/response`` (buffered, or chunked in
  the streaming mode, errors in trailers) or ``POST .../invocation/{id}/error``; both answer 202.
- The Runtime API of 2026 (the one awslambdaric 4.x speaks) adds ``Lambda-Runtime-Invocation-Id``
  to the headers of ``invocation/next``: an opaque id of this one invocation, distinct from the
  request id. The runtime sends the same header and value back on its ``/response`` (buffered or
  streamed, also when the stream ends with error trailers) and ``/error`` posts. This emulator
  sends a fresh uuid4 (``Invocation.invocation_id``), or none with ``send_invocation_id=False``
  (the older API), and records what each post echoed (``Invocation.echoed_invocation_id``); it
  does not refuse a post for a missing or wrong id.
- Lambda refuses a stale post, one for an invocation that is over (it timed out, another is
  current), with ``410 Gone``; a runtime is to take that as non-fatal and ask for the next
  invocation. (awslambdaric 4.2.2 does so in its multi-concurrent mode, on Lambda Managed
  Instances; in the on-demand mode its loop re-raises the failed post and the process exits.)
  ``submit(..., gone=True)`` has this emulator answer the invocation's post so (after reading
  its body, streamed or not), with a JSON error document of type ``InvocationGone``; the
  invocation ends with kind ``"gone"``, ``posted`` tells which endpoint the runtime used, and
  its place is free for the next invocation.
- ``next_requests`` has the monotonic time of every ``invocation/next`` call as it arrived, and
  ``Invocation.sent_at`` / ``answered_at`` when the event went out and the post was answered:
  enough to tell whether something happened before the runtime asked for its next invocation.
- A runtime that fails to initialise posts ``/2018-06-01/runtime/init/error``.
- Extensions register with ``POST /2020-01-01/extension/register`` (header
  ``Lambda-Extension-Name``, body ``{"events": [...]}``) and get a ``Lambda-Extension-Identifier``.
  Registration is accepted during the Init phase only, which ends when the runtime and every
  registered extension have called their ``next`` endpoint; later registrations are refused
  (this emulator answers 403 Forbidden, one of the register call's documented errors).
  ``GET /2020-01-01/extension/event/next`` answers only with the events subscribed to: an
  extension subscribed to none waits until the environment ends.
- Lambda sends SIGTERM to the runtime at the end of an environment only when at least one
  extension is registered, and SIGKILLs it after the Shutdown phase's limit (500 ms with internal
  extensions only, 2,000 ms with external ones). Without extensions the runtime gets no signal it
  can catch: SIGKILL straight away.
- SnapStart: the runtime calls ``GET /2018-06-01/runtime/restore/next`` when its init is done;
  the snapshot is taken while that call is pending, and it answers after the restore.
- An extension name is unique in an environment: this emulator refuses a taken one with 400
  (AWS's Runtime Interface Emulator answers 403 ``Extension.InvalidExtensionState``).
- Logs: with a log format configured (``AWS_LAMBDA_LOG_FORMAT``, ``Text`` or ``JSON``) the
  managed runtimes get a telemetry pipe, its descriptor in ``_LAMBDA_TELEMETRY_LOG_FD``. Each
  log record is one frame: a 4-byte frame type (``0xA55A0002``-based for JSON, ``0xA55A0003``
  for text, plus a level marker), the 4-byte length of the message, an 8-byte timestamp in
  microseconds, all big-endian, then the message (``log_frames``, ``log_records``).
- Lambda Managed Instances (developer guide, "Understanding the Lambda Managed Instances
  execution environment"): ``AWS_LAMBDA_MAX_CONCURRENCY`` says how many invocations one
  environment serves at once, and the Runtime API answers that many concurrent
  ``invocation/next`` calls; a further one waits until an answer frees a place
  (``max_concurrency``, ``peak_in_flight``). Init ends when at least one runtime worker called
  ``invocation/next``. The environment is never frozen, and Lambda enforces no per-invocation
  timeout: the deadline only informs the function. (This emulator freezes nothing and ends no
  invocation at its deadline, in either mode.) Logs are always JSON there, and the runtime's
  worker processes connect their stdout and stderr to the Unix socket named by
  ``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET`` (what they write shows in ``output``).
- The runtime process leads a process group of its own (AWS's Runtime Interface Emulator starts
  it so, and signals that group). At the end of the environment SIGTERM goes to the runtime
  process, or to its whole group with ``end_environment(process_group=True)``; the Shutdown
  phase lasts until every process of the group has exited or its limit has passed, and what is
  left then is SIGKILLed with the group: nothing the runtime started outlives the environment.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import IO, Any

RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
DEFAULT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:mangum-like-e2e"
DEFAULT_TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
INVOCATION_ID = "Lambda-Runtime-Invocation-Id"
_POLL = 0.05  # seconds between checks of a long-poll for the emulator's closing
_LOG_FORMATS = ("Text", "JSON")
_FRAME_HEADER = 16  # bytes: frame type (4), message length (4), timestamp in microseconds (8)


@dataclass
class Invocation:
    """One invocation handed to the runtime, and the runtime's answer."""

    request_id: str
    event: bytes
    next_headers: dict[str, str]
    timeout_ms: int = 3000
    # "response" | "error" once answered; "cut" for a stream the emulator cut off; "gone" for a
    # post refused with 410 Gone (``gone``).
    kind: str | None = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)  # what the runtime sent with its answer
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic time, bytes)
    trailers: dict[str, str] = field(default_factory=dict)
    # Streaming: close the connection once this many body bytes arrived, as a client that goes
    # away does (the invocation then ends with kind "cut").
    cut_after: int | None = None
    # Refuse the runtime's post for this invocation with 410 Gone, as Lambda refuses a stale one.
    gone: bool = False
    # The Lambda-Runtime-Invocation-Id sent with the event; None when the emulator sends none.
    invocation_id: str | None = None
    posted: str | None = None  # the endpoint the runtime posted to: "response" | "error"
    status: int | None = None  # what the emulator answered that post (202, 410), once it did
    sent_at: float | None = None  # monotonic time the runtime received the event
    answered_at: float | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def echoed_invocation_id(self) -> str | None:
        """The ``Lambda-Runtime-Invocation-Id`` the runtime sent with its post, if any."""
        return _header(self.headers, INVOCATION_ID)

    @property
    def duration(self) -> float:
        """Seconds from the runtime receiving the event to its answer."""
        if self.sent_at is None or self.answered_at is None:
            raise RuntimeError(f"invocation {self.request_id} is not answered yet")
        return self.answered_at - self.sent_at


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value whatever the case of its name (curl, awslambdaric's client, sends
    some in lower case)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


@dataclass
class InitError:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RegisteredExtension:
    name: str
    identifier: str
    events: list[str]
    headers: dict[str, str]
    polling: threading.Event = field(default_factory=threading.Event)  # a next call is pending
    mailbox: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)


@dataclass
class EnvironmentEnd:
    """How ``end_environment`` ended the runtime process."""

    signals: list[str]
    exit_code: int | None  # the runtime process's own
    elapsed: float  # seconds from the first signal to the exit of the environment's last process


@dataclass
class LogFrame:
    """One frame the runtime wrote to the telemetry pipe."""

    frame_type: int
    timestamp_us: int  # when the record was made, in microseconds since the epoch
    message: str
    record: dict[str, Any] | None  # the message parsed, when it is a JSON object


class _Server(ThreadingHTTPServer):
    # Room for every poller's connection at once: with the default backlog of 5, connections
    # beyond it wait for the client's SYN retry, a second later.
    request_queue_size = 128


class RuntimeAPIEmulator:
    """The Lambda Runtime API and Extensions API of one execution environment, on 127.0.0.1.

    ``max_concurrency`` makes it an environment of Lambda Managed Instances, which serves that
    many invocations at once; ``log_format`` (``"Text"`` or ``"JSON"``) configures the
    function's logs and hands the runtime the telemetry pipe. ``send_invocation_id=False``
    leaves ``Lambda-Runtime-Invocation-Id`` out of ``invocation/next``, as the older API does.
    """

    def __init__(
        self,
        *,
        function_name: str = "mangum-like-e2e",
        memory_size: int = 128,
        snap_start: bool = False,
        max_concurrency: int | None = None,
        log_format: str | None = None,
        send_invocation_id: bool = True,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        if log_format is not None and log_format not in _LOG_FORMATS:
            raise ValueError(
                f"log_format must be one of {_LOG_FORMATS} or None, got {log_format!r}"
            )
        self.function_name = function_name
        self.memory_size = memory_size
        self.snap_start = snap_start
        self.max_concurrency = max_concurrency
        self.log_format = log_format
        self.send_invocation_id = send_invocation_id
        self.init_errors: list[InitError] = []
        self.registered_extensions: list[RegisteredExtension] = []
        self.rejected_registrations: list[dict[str, str]] = []
        self.invocations: dict[str, Invocation] = {}
        # When each GET .../invocation/next arrived (monotonic time), before it waits for an
        # invocation: the runtime asks for the next one only once it is done with the last.
        self.next_requests: list[float] = []
        # The most invocations handed out and not answered yet at any one time.
        self.peak_in_flight = 0
        self.restore_errors: list[InitError] = []
        self.init_done = threading.Event()  # the runtime asked for its first invocation
        self.restore_requested = threading.Event()  # SnapStart: the runtime awaits the restore
        self.restored = threading.Event()
        self.process: subprocess.Popen[bytes] | None = None
        self._output: IO[bytes] | None = None
        self._closed_output = b""  # what _output held when close() closed it
        self._pending: deque[Invocation] = deque()
        self._handed_out: set[str] = set()  # request ids handed out and not answered yet
        self._ready = threading.Condition()  # guards _pending and _handed_out
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        # Logs that do not go to stdout: the telemetry pipe's frames, and what the workers of
        # an LMI runtime write to the log socket.
        self._log_lock = threading.Lock()
        self._log_frames: list[LogFrame] = []
        self._socket_output = bytearray()
        self._log_readers: list[threading.Thread] = []
        self._log_acceptor: threading.Thread | None = None
        self._log_dir: str | None = None
        self._log_socket: socket.socket | None = None
        #: LMI: the value of ``_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET``.
        self.log_socket_path: str | None = None
        if max_concurrency is not None:
            self._log_dir = tempfile.mkdtemp(prefix="lambda-emulator-")
            self.log_socket_path = os.path.join(self._log_dir, "logs.sock")
            self._log_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._log_socket.bind(self.log_socket_path)
            self._log_socket.listen(64)
            self._log_socket.settimeout(_POLL)

    # -- server ---------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """``host:port``, the value of ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    def __enter__(self) -> RuntimeAPIEmulator:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": _POLL},
            name="lambda-emulator",
            daemon=True,
        )
        self._thread.start()
        if self._log_socket is not None:
            self._log_acceptor = threading.Thread(
                target=self._accept_log_connections, name="lambda-emulator-log-socket", daemon=True
            )
            self._log_acceptor.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        process = self.process
        if process is not None:
            # The whole environment goes: the runtime and whatever it started.
            if process.poll() is None:
                process.kill()
            _kill_group(process)
            process.wait(10)
        self._closing.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(10)
            self._thread = None
        self._server.server_close()
        if self._log_socket is not None:
            self._log_socket.close()
        if self._log_acceptor is not None:
            self._log_acceptor.join(10)
            self._log_acceptor = None
        self._join_log_readers(1.0)
        if self._log_dir is not None:
            shutil.rmtree(self._log_dir, ignore_errors=True)
            self._log_dir = None
        if self._output is not None:
            self._closed_output = self._read_output()
            self._output.close()
            self._output = None

    # -- invocations ----------------------------------------------------------------------------

    def submit(
        self,
        event: Any,
        *,
        timeout_ms: int = 3000,
        request_id: str | None = None,
        function_arn: str = DEFAULT_ARN,
        trace_id: str = DEFAULT_TRACE,
        client_context: Any = None,
        identity: Any = None,
        cut_after: int | None = None,
        gone: bool = False,
    ) -> Invocation:
        """Queue ``event`` for the runtime's next ``invocation/next``; does not wait.

        ``gone``: answer the runtime's post for it with 410 Gone instead of 202.
        """
        request_id = request_id or str(uuid.uuid4())
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {
            "Content-Type": "application/json",
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Invoked-Function-Arn": function_arn,
            "Lambda-Runtime-Trace-Id": trace_id,
        }
        if client_context is not None:
            headers["Lambda-Runtime-Client-Context"] = json.dumps(client_context)
        if identity is not None:
            headers["Lambda-Runtime-Cognito-Identity"] = json.dumps(identity)
        invocation_id = str(uuid.uuid4()) if self.send_invocation_id else None
        if invocation_id is not None:
            headers[INVOCATION_ID] = invocation_id
        invocation = Invocation(
            request_id,
            body,
            headers,
            timeout_ms,
            cut_after=cut_after,
            gone=gone,
            invocation_id=invocation_id,
        )
        with self._lock:
            self.invocations[request_id] = invocation
        with self._ready:
            self._pending.append(invocation)
            self._ready.notify_all()
        return invocation

    def invoke(self, event: Any, *, wait: float = 10.0, **options: Any) -> Invocation:
        """Hand ``event`` to the runtime and wait until it posts the response or an error."""
        invocation = self.submit(event, **options)
        self.wait(invocation, wait)
        return invocation

    def invoke_all(
        self, events: Iterable[Any], *, wait: float = 10.0, **options: Any
    ) -> list[Invocation]:
        """Queue every event at once (each with ``options``), then wait until all are answered,
        ``wait`` seconds at most in all; in the order of ``events``."""
        invocations = [self.submit(event, **options) for event in events]
        deadline = time.monotonic() + wait
        for invocation in invocations:
            self.wait(invocation, max(0.0, deadline - time.monotonic()))
        return invocations

    def wait(self, invocation: Invocation, seconds: float = 10.0) -> Invocation:
        if not invocation.done.wait(seconds):
            raise TimeoutError(
                f"no answer to invocation {invocation.request_id} within {seconds} s; "
                f"runtime output:\n{self.output}"
            )
        return invocation

    @property
    def in_flight(self) -> int:
        """How many invocations are handed out and not answered yet."""
        with self._ready:
            return len(self._handed_out)

    def restore(self) -> None:
        """SnapStart: resume the environment from its snapshot (answers ``restore/next``)."""
        self.restored.set()

    # -- the runtime process --------------------------------------------------------------------

    def environment(self, env: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment variables Lambda sets for a Python runtime, pointed at this emulator."""
        variables = dict(os.environ)
        variables.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self.address,
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/21/[$LATEST]0123456789abcdef",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if self.snap_start else "on-demand",
                "AWS_REGION": "us-east-1",
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
                "LAMBDA_TASK_ROOT": os.getcwd(),
                "LAMBDA_RUNTIME_DIR": os.path.dirname(sys.executable),
                "TZ": ":UTC",
                "PYTHONUNBUFFERED": "1",
            }
        )
        # What this emulator configures, and nothing the test process itself was given.
        for name in (
            "_X_AMZN_TRACE_ID",
            "AWS_LAMBDA_MAX_CONCURRENCY",
            "AWS_LAMBDA_LOG_FORMAT",
            "_LAMBDA_TELEMETRY_LOG_FD",
            "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET",
        ):
            variables.pop(name, None)
        if self.max_concurrency is not None:
            variables["AWS_LAMBDA_MAX_CONCURRENCY"] = str(self.max_concurrency)
        socket_path = self.log_socket_path
        if socket_path is not None:
            variables["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"] = socket_path
        if self.log_format is not None:
            variables["AWS_LAMBDA_LOG_FORMAT"] = self.log_format
        if env:
            variables.update(env)
        return variables

    def start(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start the runtime process; its stdout and stderr are kept in ``output``."""
        if self.process is not None:
            raise RuntimeError("this emulator already runs a runtime process")
        variables = self.environment(env)
        self._output = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        pipe: tuple[int, int] | None = None
        if self.log_format is not None:
            pipe = os.pipe()
            variables["_LAMBDA_TELEMETRY_LOG_FD"] = str(pipe[1])
        try:
            self.process = subprocess.Popen(
                list(argv),
                env=variables,
                cwd=cwd or variables["LAMBDA_TASK_ROOT"],
                stdin=subprocess.DEVNULL,
                stdout=self._output,
                stderr=subprocess.STDOUT,
                pass_fds=(pipe[1],) if pipe else (),
                start_new_session=True,  # a process group of its own, that the end ends
            )
        finally:
            if pipe is not None:
                os.close(pipe[1])  # the runtime holds the write end now
        if pipe is not None:
            reader = os.fdopen(pipe[0], "rb")
            self._start_log_reader(
                functools.partial(self._read_frames, reader), "lambda-emulator-telemetry"
            )
        return self.process

    @property
    def output(self) -> str:
        """What the runtime process wrote to stdout and stderr so far, then what its workers
        wrote to the log socket (LMI); still there after ``close()``."""
        with self._log_lock:
            return (self._read_output() + self._socket_output).decode(errors="replace")

    def _read_output(self) -> bytes:
        if self._output is None:
            return self._closed_output
        self._output.flush()
        self._output.seek(0)
        return self._output.read()

    @property
    def log_frames(self) -> list[LogFrame]:
        """Every frame written to the telemetry pipe so far, in order."""
        with self._log_lock:
            return list(self._log_frames)

    @property
    def log_records(self) -> list[dict[str, Any]]:
        """The telemetry pipe's JSON records so far, each with its frame type in ``frameType``."""
        return [
            {**frame.record, "frameType": frame.frame_type}
            for frame in self.log_frames
            if frame.record is not None
        ]

    @property
    def log_texts(self) -> list[str]:
        """The telemetry pipe's other messages so far (text records), as strings."""
        return [frame.message for frame in self.log_frames if frame.record is None]

    def wait_init(self, seconds: float = 10.0) -> None:
        """Wait until the runtime finished its init (asked for its first invocation)."""
        if not self.init_done.wait(seconds):
            raise TimeoutError(f"the runtime did not finish init in {seconds} s:\n{self.output}")

    def next_request_after(self, after: float, seconds: float = 10.0) -> float:
        """When the runtime called ``invocation/next`` after ``after`` (monotonic time); fails
        at once if the runtime process exits instead, or after ``seconds``."""
        deadline = time.monotonic() + seconds
        while True:
            later = [at for at in list(self.next_requests) if at > after]
            if later:
                return later[0]
            process = self.process
            if process is not None and process.poll() is not None:
                raise AssertionError(
                    f"the runtime exited with status {process.returncode} instead of asking for "
                    f"the next invocation; its output:\n{self.output}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no GET .../invocation/next within {seconds} s; output:\n{self.output}"
                )
            time.sleep(0.01)

    def end_environment(self, grace: float = 0.5, *, process_group: bool = False) -> EnvironmentEnd:
        """End the environment as Lambda does: SIGTERM and SIGKILL after ``grace`` seconds when
        an extension is registered; SIGKILL straight away when none is.

        SIGTERM goes to the runtime process, or with ``process_group`` to every process of its
        group. The Shutdown phase ends when all of them have exited, or at ``grace``: SIGKILL
        for the group then.
        """
        process = self.process
        if process is None:
            raise RuntimeError("no runtime process was started")
        signals: list[str] = []
        started = time.monotonic()
        if process.poll() is None:
            if self.registered_extensions:
                signals.append("SIGTERM")
                if process_group:
                    _signal_group(process, signal.SIGTERM)
                else:
                    process.send_signal(signal.SIGTERM)
                for extension in self.registered_extensions:
                    if "SHUTDOWN" in extension.events:
                        deadline = int((time.time() + grace) * 1000)
                        extension.mailbox.put(
                            {
                                "eventType": "SHUTDOWN",
                                "shutdownReason": "spindown",
                                "deadlineMs": deadline,
                            }
                        )
                if not _wait_group(process, grace):
                    signals.append("SIGKILL")
                    process.kill()
                    _kill_group(process)
            else:
                signals.append("SIGKILL")
                process.kill()
                _kill_group(process)
        exit_code = process.wait(10)
        elapsed = time.monotonic() - started
        _kill_group(process)  # what outlived the runtime process ends with the environment
        self._closing.set()  # release the long-polls of the ended process
        self._join_log_readers(2.0)
        return EnvironmentEnd(signals, exit_code, elapsed)

    # -- logs (reader threads) ------------------------------------------------------------------

    def _start_log_reader(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        with self._log_lock:
            self._log_readers.append(thread)
        thread.start()

    def _join_log_readers(self, seconds: float) -> None:
        # Once every writer is gone, the readers see the end of their pipe or socket and stop:
        # what the environment's last processes wrote is in by then.
        deadline = time.monotonic() + seconds
        with self._log_lock:
            readers = list(self._log_readers)
        for thread in readers:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _read_frames(self, reader: IO[bytes]) -> None:
        with reader:
            while True:
                header = reader.read(_FRAME_HEADER)
                if len(header) < _FRAME_HEADER:
                    return
                frame_type = int.from_bytes(header[0:4], "big")
                length = int.from_bytes(header[4:8], "big")
                timestamp = int.from_bytes(header[8:16], "big")
                message = reader.read(length).decode(errors="replace")
                record: dict[str, Any] | None = None
                with contextlib.suppress(ValueError):
                    parsed = json.loads(message)
                    if isinstance(parsed, dict):
                        record = parsed
                with self._log_lock:
                    self._log_frames.append(LogFrame(frame_type, timestamp, message, record))

    def _accept_log_connections(self) -> None:
        listener = self._log_socket
        if listener is None:
            return
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # closed by close()
            connection.settimeout(None)
            self._start_log_reader(
                functools.partial(self._read_log_stream, connection), "lambda-emulator-log-stream"
            )

    def _read_log_stream(self, connection: socket.socket) -> None:
        # Whole lines only, so that the lines of several workers never mix.
        partial = b""
        with connection:
            while True:
                try:
                    data = connection.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                lines, newline, partial = (partial + data).rpartition(b"\n")
                if newline:
                    with self._log_lock:
                        self._socket_output += lines + newline
        if partial:
            with self._log_lock:
                self._socket_output += partial + b"\n"

    # -- request handling (server threads) ------------------------------------------------------

    def _init_complete(self) -> bool:
        return all(extension.polling.is_set() for extension in self.registered_extensions)

    def _next_invocation(self) -> Invocation | None:
        self.init_done.set()
        # The Init phase ends when every registered extension has called event/next too.
        while not self._init_complete():
            if self._closing.wait(_POLL):
                return None
        with self._ready:
            while True:
                if self._closing.is_set():
                    return None
                limit = self.max_concurrency
                # LMI: at most max_concurrency invocations out at once; a further next call
                # waits for an answer.
                if self._pending and (limit is None or len(self._handed_out) < limit):
                    invocation = self._pending.popleft()
                    self._handed_out.add(invocation.request_id)
                    self.peak_in_flight = max(self.peak_in_flight, len(self._handed_out))
                    break
                self._ready.wait(_POLL)
        # The deadline runs from the moment the runtime receives the event.
        deadline_ms = int(time.time() * 1000) + invocation.timeout_ms
        invocation.next_headers["Lambda-Runtime-Deadline-Ms"] = str(deadline_ms)
        invocation.sent_at = time.monotonic()
        for extension in self.registered_extensions:
            if "INVOKE" in extension.events:
                extension.mailbox.put(
                    {
                        "eventType": "INVOKE",
                        "requestId": invocation.request_id,
                        "deadlineMs": deadline_ms,
                        "invokedFunctionArn": invocation.next_headers[
                            "Lambda-Runtime-Invoked-Function-Arn"
                        ],
                        "tracing": {
                            "type": "X-Amzn-Trace-Id",
                            "value": invocation.next_headers["Lambda-Runtime-Trace-Id"],
                        },
                    }
                )
        return invocation

    def _answered(self, invocation: Invocation) -> None:
        """The invocation has its answer: its place is free for the next one."""
        invocation.answered_at = time.monotonic()
        with self._ready:
            self._handed_out.discard(invocation.request_id)
            self._ready.notify_all()
        invocation.done.set()

    def _register(self, name: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any, str]:
        if self.init_done.is_set():
            self.rejected_registrations.append(headers)
            return (
                403,
                {
                    "errorMessage": "extensions can register during the Init phase only",
                    "errorType": "Extension.Forbidden",
                },
                "",
            )
        try:
            events = json.loads(body or b"{}").get("events", [])
        except (ValueError, AttributeError):
            return 400, {"errorMessage": "invalid body", "errorType": "InvalidRequest"}, ""
        with self._lock:  # the workers of an LMI runtime may register at the same moment
            if not name or any(extension.name == name for extension in self.registered_extensions):
                return (
                    400,
                    {
                        "errorMessage": f"invalid extension name {name!r}",
                        "errorType": "InvalidName",
                    },
                    "",
                )
            identifier = str(uuid.uuid4())
            self.registered_extensions.append(
                RegisteredExtension(name, identifier, events, headers)
            )
        return (
            200,
            {"functionName": self.function_name, "functionVersion": "$LATEST", "handler": ""},
            identifier,
        )

    def _extension(self, identifier: str | None) -> RegisteredExtension | None:
        for extension in self.registered_extensions:
            if extension.identifier == identifier:
                return extension
        return None


class _StreamCut(Exception):
    def __init__(self, data: bytes) -> None:
        super().__init__(len(data))
        self.data = data


def _make_handler(emulator: RuntimeAPIEmulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.1: the runtime clients keep their connection, and curl (awslambdaric's C
        # client) may send "Expect: 100-continue", which http.server answers only in 1.1.
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK would add some 40 ms to every answer.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the tests look at the recorded calls, not at an access log

        def _headers(self) -> dict[str, str]:
            return dict(self.headers.items())

        def _answer(
            self, status: int, body: Any = None, headers: Mapping[str, str] | None = None
        ) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                self.close_connection = True  # the runtime went away

        def _read_body(self, invocation: Invocation | None = None) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                return self._read_chunked(invocation)
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length)

        def _read_chunked(self, invocation: Invocation | None) -> bytes:
            # http.server leaves chunked request bodies to the handler (RFC 9112 section 7.1).
            data = bytearray()
            while True:
                size_line = self.rfile.readline(65537)
                if not size_line:
                    raise ConnectionError("the runtime closed the connection inside a chunk")
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    break
                chunk = self.rfile.read(size)
                if invocation is not None:
                    invocation.chunks.append((time.monotonic(), chunk))
                data += chunk
                cut_after = invocation.cut_after if invocation is not None else None
                if cut_after is not None and len(data) >= cut_after:
                    raise _StreamCut(bytes(data))
                self.rfile.readline(3)  # the CRLF after the chunk's data
            while True:  # trailer section, then an empty line
                line = self.rfile.readline(65537)
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                if invocation is not None:
                    invocation.trailers[name.strip()] = value.strip()
            return bytes(data)

        def do_GET(self) -> None:
            path = self.path
            if path == f"{RUNTIME}/invocation/next":
                emulator.next_requests.append(time.monotonic())
                invocation = emulator._next_invocation()
                if invocation is None:
                    self._answer(500, {"errorMessage": "the environment is shutting down"})
                    return
                data = invocation.event
                try:
                    self.send_response(200)
                    for name, value in invocation.next_headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    self.wfile.flush()
                except OSError:
                    self.close_connection = True
            elif path == f"{RUNTIME}/restore/next":
                emulator.restore_requested.set()
                while not emulator.restored.wait(_POLL):
                    if emulator._closing.is_set():
                        return
                self._answer(200, None)
            elif path == f"{EXTENSION}/event/next":
                extension = emulator._extension(self.headers.get("Lambda-Extension-Identifier"))
                if extension is None:
                    self._answer(
                        403,
                        {"errorMessage": "unknown extension", "errorType": "Extension.Unknown"},
                    )
                    return
                extension.polling.set()
                while not emulator._closing.is_set():
                    try:
                        event = extension.mailbox.get(timeout=_POLL)
                    except queue.Empty:
                        continue
                    extension.polling.clear()
                    self._answer(
                        200, event, {"Lambda-Extension-Event-Identifier": str(uuid.uuid4())}
                    )
                    return
                self.close_connection = True  # the environment is gone: drop the long-poll
            else:
                self._answer(404, {"errorMessage": f"no route GET {path}"})

        def do_POST(self) -> None:
            path = self.path
            if path.startswith(f"{RUNTIME}/invocation/"):
                request_id, _, kind = path[len(RUNTIME) + len("/invocation/") :].partition("/")
                invocation = emulator.invocations.get(request_id)
                if kind not in ("response", "error"):
                    self._read_body()
                    self._answer(404, {"errorMessage": f"no route POST {path}"})
                    return
                if invocation is None or invocation.done.is_set():
                    self._read_body()
                    self._answer(
                        400,
                        {"errorMessage": "invalid request id", "errorType": "InvalidRequestID"},
                    )
                    return
                # The headers, Lambda-Runtime-Invocation-Id among them, as they came: before a
                # streamed body, and whatever the post's fate.
                invocation.headers = self._headers()
                invocation.posted = kind
                try:
                    invocation.body = self._read_body(invocation)
                except _StreamCut as cut:
                    invocation.body = cut.data
                    invocation.kind = "cut"
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    emulator._answered(invocation)
                    return
                if invocation.gone:
                    # A stale post: the invocation is over for Lambda, which refuses it.
                    invocation.kind = "gone"
                    invocation.status = 410
                    emulator._answered(invocation)
                    self._answer(
                        410,
                        {
                            "errorMessage": f"invocation {request_id} is no longer current",
                            "errorType": "InvocationGone",
                        },
                    )
                    return
                invocation.kind = kind
                invocation.status = 202
                # Answered from now on, before the runtime hears so: a second answer it sends
                # straight after is refused, as Lambda refuses it.
                emulator._answered(invocation)
                self._answer(202, {"status": "OK"})
            elif path == f"{RUNTIME}/init/error":
                emulator.init_errors.append(InitError(self._headers(), self._read_body()))
                self._answer(202, {"status": "OK"})
            elif path == f"{RUNTIME}/restore/error":
                emulator.restore_errors.append(InitError(self._headers(), self._read_body()))
                self._answer(202, {"status": "OK"})
            elif path == f"{EXTENSION}/register":
                body = self._read_body()
                status, answer, identifier = emulator._register(
                    self.headers.get("Lambda-Extension-Name", ""), body, self._headers()
                )
                extra = {"Lambda-Extension-Identifier": identifier} if identifier else {}
                self._answer(status, answer, extra)
            else:
                self._read_body()
                self._answer(404, {"errorMessage": f"no route POST {path}"})

    return Handler


# -- the runtime's process group ----------------------------------------------------------------


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Whether a process of the runtime's group (its id is the runtime's pid) still runs.

    Zombies do not count: an orphan's is reaped by whatever adopted it, maybe never here.
    """
    group = process.pid
    try:
        entries = os.listdir("/proc")
    except OSError:  # no procfs: ask the kernel, zombies included
        try:
            os.killpg(group, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                data = stat.read()
        except OSError:
            continue  # gone meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold anything, so split after its ")".
        fields = data.rpartition(b")")[2].split()
        if len(fields) > 2 and fields[0] != b"Z" and int(fields[2]) == group:
            return True
    return False


def _wait_group(process: subprocess.Popen[bytes], seconds: float) -> bool:
    """Wait until the runtime process and every other process of its group have exited, at
    most ``seconds``; whether they have."""
    deadline = time.monotonic() + seconds
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        return False
    while _group_alive(process):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL for every process of the runtime's group; returns once they are gone."""
    if process.returncode is None or _group_alive(process):
        _signal_group(process, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.005)
