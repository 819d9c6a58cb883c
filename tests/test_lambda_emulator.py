"""The Runtime API emulator the end-to-end tests stand on, checked against Lambda's documented
behaviour, the official runtime client (awslambdaric) and mangum_like's own API client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mangum_like._lambda.rapi import (
    Connection,
    RuntimeAPIError,
    next_extension_event,
    register_extension,
)
from tests.lambda_emulator import RUNTIME, Invocation, RuntimeAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
RIC = [sys.executable, "-m", "awslambdaric"]


@pytest.fixture
def emulator() -> Iterator[RuntimeAPIEmulator]:
    with RuntimeAPIEmulator() as emulator:
        yield emulator


def next_invocation(connection: Connection) -> tuple[http.client.HTTPMessage, bytes]:
    reply = connection.request("GET", f"{RUNTIME}/invocation/next")
    assert reply.status == 200
    return reply.headers, reply.body


class TestRuntimeAPI:
    def test_invocation_next_describes_the_event(self, emulator: RuntimeAPIEmulator) -> None:
        invocation = emulator.submit(
            {"hello": "world"},
            timeout_ms=5000,
            request_id="req-1",
            client_context={"custom": {"a": "b"}},
            identity={"cognitoIdentityId": "id-1"},
        )
        connection = Connection(emulator.address, timeout=5)
        before = int(time.time() * 1000)
        headers, body = next_invocation(connection)
        assert json.loads(body) == {"hello": "world"}
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
        assert before + 5000 <= int(headers["Lambda-Runtime-Deadline-Ms"]) <= before + 5100
        assert headers["Lambda-Runtime-Invoked-Function-Arn"].startswith("arn:aws:lambda:")
        assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=")
        assert json.loads(headers["Lambda-Runtime-Client-Context"]) == {"custom": {"a": "b"}}
        assert json.loads(headers["Lambda-Runtime-Cognito-Identity"]) == {
            "cognitoIdentityId": "id-1"
        }
        reply = connection.request(
            "POST", f"{RUNTIME}/invocation/req-1/response", b'{"ok": true}', {"X-Test": "1"}
        )
        assert reply.status == 202
        emulator.wait(invocation, 5)
        assert (invocation.kind, invocation.json()) == ("response", {"ok": True})
        assert invocation.headers["X-Test"] == "1"
        assert invocation.duration >= 0
        connection.close()

    def test_optional_headers_are_left_out(self, emulator: RuntimeAPIEmulator) -> None:
        emulator.submit([1, 2])
        connection = Connection(emulator.address, timeout=5)
        headers, _ = next_invocation(connection)
        assert "Lambda-Runtime-Client-Context" not in headers
        assert "Lambda-Runtime-Cognito-Identity" not in headers
        connection.close()

    def test_error_and_unknown_request_ids(self, emulator: RuntimeAPIEmulator) -> None:
        invocation = emulator.submit({}, request_id="req-2")
        connection = Connection(emulator.address, timeout=5)
        next_invocation(connection)
        error = b'{"errorMessage": "boom", "errorType": "ValueError"}'
        headers = {"Lambda-Runtime-Function-Error-Type": "Unhandled"}
        assert connection.request("POST", f"{RUNTIME}/invocation/req-2/error", error, headers)[
            0
        ] == (202)
        emulator.wait(invocation, 5)
        assert invocation.kind == "error"
        assert invocation.json()["errorType"] == "ValueError"
        assert invocation.headers["Lambda-Runtime-Function-Error-Type"] == "Unhandled"
        # Answered already, or never handed out: Lambda refuses the request id.
        assert connection.request("POST", f"{RUNTIME}/invocation/req-2/response", b"{}")[0] == 400
        assert connection.request("POST", f"{RUNTIME}/invocation/nope/response", b"{}")[0] == 400
        assert connection.request("POST", f"{RUNTIME}/invocation/req-2/other", b"{}")[0] == 404
        assert connection.request("GET", "/2018-06-01/nothing")[0] == 404
        assert connection.request("POST", "/2018-06-01/nothing", b"x")[0] == 404
        connection.close()

    def test_init_error_is_recorded(self, emulator: RuntimeAPIEmulator) -> None:
        connection = Connection(emulator.address, timeout=5)
        reply = connection.request(
            "POST",
            f"{RUNTIME}/init/error",
            b'{"errorMessage": "no module", "errorType": "Runtime.ImportModuleError"}',
            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"},
        )
        assert reply.status == 202
        [error] = emulator.init_errors
        assert error.json()["errorMessage"] == "no module"
        assert error.headers["Lambda-Runtime-Function-Error-Type"] == "Runtime.ImportModuleError"
        connection.close()

    def test_chunked_response_is_timed_chunk_by_chunk(self, emulator: RuntimeAPIEmulator) -> None:
        invocation = emulator.submit({}, request_id="req-3")
        connection = Connection(emulator.address, timeout=5)
        next_invocation(connection)
        raw = connection.http
        raw.putrequest("POST", f"{RUNTIME}/invocation/req-3/response")
        raw.putheader("Transfer-Encoding", "chunked")
        raw.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
        raw.putheader("Trailer", "Lambda-Runtime-Function-Error-Type")
        raw.endheaders()
        raw.send(b"5\r\nhello\r\n")
        time.sleep(0.2)
        raw.send(b"6;ext=1\r\n world\r\n")
        raw.send(b"0\r\nLambda-Runtime-Function-Error-Type: Boom\r\nX-Other: yes\r\n\r\n")
        response = raw.getresponse()
        response.read()
        assert response.status == 202
        emulator.wait(invocation, 5)
        assert invocation.body == b"hello world"
        assert [chunk for _, chunk in invocation.chunks] == [b"hello", b" world"]
        assert invocation.chunks[1][0] - invocation.chunks[0][0] >= 0.15
        assert invocation.trailers == {
            "Lambda-Runtime-Function-Error-Type": "Boom",
            "X-Other": "yes",
        }
        assert invocation.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
        connection.close()

    def test_wait_times_out_with_the_runtime_output(self, emulator: RuntimeAPIEmulator) -> None:
        invocation = emulator.submit({})
        with pytest.raises(TimeoutError, match="no answer"):
            emulator.wait(invocation, 0.05)
        with pytest.raises(RuntimeError, match="not answered"):
            _ = invocation.duration
        with pytest.raises(TimeoutError, match="did not finish init"):
            emulator.wait_init(0.05)
        with pytest.raises(RuntimeError, match="no runtime process"):
            emulator.end_environment()

    def test_snap_start_restore(self) -> None:
        with RuntimeAPIEmulator(snap_start=True) as emulator:
            assert emulator.environment()["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
            connection = Connection(emulator.address, timeout=5)
            answered: list[int] = []
            thread = threading.Thread(
                target=lambda: answered.append(
                    connection.request("GET", f"{RUNTIME}/restore/next").status
                )
            )
            thread.start()
            assert emulator.restore_requested.wait(5)
            time.sleep(0.1)
            assert answered == []  # the snapshot is taken while restore/next is pending
            emulator.restore()
            thread.join(5)
            assert answered == [200]
            reply = connection.request("POST", f"{RUNTIME}/restore/error", b"{}")
            assert reply.status == 202
            assert len(emulator.restore_errors) == 1
            connection.close()


class TestExtensionsAPI:
    def test_registration_during_init(self, emulator: RuntimeAPIEmulator) -> None:
        connection = Connection(emulator.address, timeout=5)
        identifier = register_extension(connection, "probe", ["INVOKE", "SHUTDOWN"])
        [extension] = emulator.registered_extensions
        assert (extension.name, extension.identifier, extension.events) == (
            "probe",
            identifier,
            ["INVOKE", "SHUTDOWN"],
        )
        with pytest.raises(RuntimeAPIError) as caught:
            register_extension(connection, "probe", [])  # names are unique
        assert caught.value.status == 400
        connection.close()

    def test_registration_after_init_is_forbidden(self, emulator: RuntimeAPIEmulator) -> None:
        runtime = Connection(emulator.address, timeout=5)
        emulator.submit({})
        next_invocation(runtime)
        connection = Connection(emulator.address, timeout=5)
        with pytest.raises(RuntimeAPIError) as caught:
            register_extension(connection, "late", [])
        assert caught.value.status == 403
        assert "POST /2020-01-01/extension/register answered 403" in str(caught.value)
        assert emulator.registered_extensions == []
        assert len(emulator.rejected_registrations) == 1
        runtime.close()
        connection.close()

    def test_bad_registration_body(self, emulator: RuntimeAPIEmulator) -> None:
        connection = Connection(emulator.address, timeout=5)
        reply = connection.request(
            "POST", "/2020-01-01/extension/register", b"[", {"Lambda-Extension-Name": "x"}
        )
        assert reply.status == 400
        connection.close()

    def test_init_ends_when_every_extension_polls(self, emulator: RuntimeAPIEmulator) -> None:
        extension = Connection(emulator.address)
        identifier = register_extension(extension, "noop", [])
        emulator.submit({"n": 1})
        runtime = Connection(emulator.address, timeout=5)
        got: list[bytes] = []
        waiter = threading.Thread(target=lambda: got.append(next_invocation(runtime)[1]))
        waiter.start()
        time.sleep(0.3)
        assert got == []  # the extension has not called event/next yet: Init goes on
        poll = threading.Thread(target=_poll_quietly, args=(extension, identifier), daemon=True)
        poll.start()
        waiter.join(5)
        assert [json.loads(body) for body in got] == [{"n": 1}]
        # An extension subscribed to no event gets none.
        time.sleep(0.2)
        assert poll.is_alive()
        runtime.close()
        emulator.close()
        poll.join(5)
        assert not poll.is_alive()
        extension.close()

    def test_events_reach_the_extensions_subscribed(self, emulator: RuntimeAPIEmulator) -> None:
        connection = Connection(emulator.address, timeout=5)
        identifier = register_extension(connection, "watcher", ["INVOKE"])
        events: list[dict[str, object]] = []
        thread = threading.Thread(
            target=lambda: events.append(next_extension_event(connection, identifier))
        )
        thread.start()
        invocation = emulator.submit({}, request_id="req-4")
        runtime = Connection(emulator.address, timeout=5)
        next_invocation(runtime)
        thread.join(5)
        assert events[0]["eventType"] == "INVOKE"
        assert events[0]["requestId"] == "req-4"
        assert invocation.sent_at is not None
        runtime.close()
        connection.close()

    def test_unknown_extension(self, emulator: RuntimeAPIEmulator) -> None:
        connection = Connection(emulator.address, timeout=5)
        with pytest.raises(RuntimeAPIError) as caught:
            next_extension_event(connection, "not-registered")
        assert caught.value.status == 403
        connection.close()


def _poll_quietly(connection: Connection, identifier: str) -> None:
    # The emulator closes the long-poll when the environment is gone.
    with contextlib.suppress(OSError, http.client.HTTPException):
        next_extension_event(connection, identifier)


# A runtime in a few lines of stdlib Python: registers an extension (for SHUTDOWN, when asked),
# serves invocations by echoing them, and handles SIGTERM as the test tells it to.
_SCRIPT = """
import json, signal, sys, threading, time
from mangum_like._lambda.rapi import Connection, next_extension_event, register_extension
address, mode = sys.argv[1], sys.argv[2]
if mode != "none":
    ext = Connection(address)
    identifier = register_extension(ext, "test-ext", ["SHUTDOWN"] if mode == "shutdown" else [])
    def poll():
        event = next_extension_event(ext, identifier)
        print("extension event", event["eventType"], flush=True)
    threading.Thread(target=poll, daemon=True).start()
if mode == "ignore":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
else:
    signal.signal(signal.SIGTERM, lambda *_: (print("SIGTERM", flush=True), sys.exit(7)))
runtime = Connection(address)
while True:
    reply = runtime.request("GET", "/2018-06-01/runtime/invocation/next")
    request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
    runtime.request("POST", f"/2018-06-01/runtime/invocation/{request_id}/response", reply.body)
"""


class TestEnvironmentEnd:
    def _run(self, emulator: RuntimeAPIEmulator, mode: str) -> Invocation:
        emulator.start([sys.executable, "-c", _SCRIPT, emulator.address, mode], cwd=str(ROOT))
        return emulator.invoke({"ping": mode}, wait=20)

    def test_no_extension_means_sigkill_at_once(self, emulator: RuntimeAPIEmulator) -> None:
        assert self._run(emulator, "none").json() == {"ping": "none"}
        end = emulator.end_environment()
        assert end.signals == ["SIGKILL"]
        assert end.exit_code == -9
        assert "SIGTERM" not in emulator.output

    def test_sigterm_when_an_extension_is_registered(self, emulator: RuntimeAPIEmulator) -> None:
        self._run(emulator, "noop")
        end = emulator.end_environment(grace=2.0)
        assert end.signals == ["SIGTERM"]
        assert end.exit_code == 7
        assert end.elapsed < 2.0
        assert "SIGTERM" in emulator.output

    def test_sigkill_after_the_grace_period(self, emulator: RuntimeAPIEmulator) -> None:
        self._run(emulator, "ignore")
        end = emulator.end_environment(grace=0.3)
        assert end.signals == ["SIGTERM", "SIGKILL"]
        assert end.exit_code == -9
        assert 0.3 <= end.elapsed < 2.0

    def test_shutdown_event_for_subscribed_extensions(self, emulator: RuntimeAPIEmulator) -> None:
        self._run(emulator, "shutdown")
        end = emulator.end_environment(grace=2.0)
        assert end.signals == ["SIGTERM"]
        assert "SIGTERM" in emulator.output

    def test_one_process_per_environment(self, emulator: RuntimeAPIEmulator) -> None:
        self._run(emulator, "none")
        with pytest.raises(RuntimeError, match="already runs"):
            emulator.start([sys.executable, "-c", "pass"])
        emulator.end_environment()
        # Ending an environment whose process already exited sends nothing.
        assert emulator.end_environment().signals == []


def serve(emulator: RuntimeAPIEmulator, pollers: int, delay: float = 0.0) -> None:
    """``pollers`` threads that each take invocations one at a time on a connection of their
    own, as the workers of an LMI runtime do, and echo each event after ``delay`` seconds; they
    stop when the emulator closes."""

    def poll() -> None:
        connection = Connection(emulator.address, timeout=10)
        with contextlib.suppress(OSError, http.client.HTTPException):
            while True:
                reply = connection.request("GET", f"{RUNTIME}/invocation/next")
                if reply.status != 200:
                    break
                time.sleep(delay)
                request_id = reply.headers["Lambda-Runtime-Aws-Request-Id"]
                path = f"{RUNTIME}/invocation/{request_id}/response"
                connection.request("POST", path, reply.body)
        connection.close()

    for _ in range(pollers):
        threading.Thread(target=poll, daemon=True).start()


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is no zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat.rpartition(b")")[2].split()[0] != b"Z"


class TestManagedInstances:
    """Lambda Managed Instances: many invocations in flight in one environment."""

    def test_environment_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # What the test process happens to have set is not passed on.
        monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "9")
        monkeypatch.setenv("AWS_LAMBDA_LOG_FORMAT", "Text")
        monkeypatch.setenv("_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET", "/nowhere")
        with RuntimeAPIEmulator() as emulator:
            variables = emulator.environment()
        assert "AWS_LAMBDA_MAX_CONCURRENCY" not in variables
        assert "AWS_LAMBDA_LOG_FORMAT" not in variables
        assert "_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET" not in variables
        assert emulator.log_socket_path is None
        with RuntimeAPIEmulator(max_concurrency=3, log_format="JSON") as emulator:
            variables = emulator.environment()
            assert variables["AWS_LAMBDA_MAX_CONCURRENCY"] == "3"
            assert variables["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
            path = variables["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"]
            assert path == emulator.log_socket_path
            assert stat.S_ISSOCK(os.stat(path).st_mode)
        assert not os.path.exists(path)  # removed by close()
        with pytest.raises(ValueError, match="max_concurrency"):
            RuntimeAPIEmulator(max_concurrency=0)
        with pytest.raises(ValueError, match="log_format"):
            RuntimeAPIEmulator(log_format="json")

    @pytest.mark.parametrize(("limit", "served_at_once"), [(None, 3), (2, 2)])
    def test_at_most_max_concurrency_invocations_in_flight(
        self, limit: int | None, served_at_once: int
    ) -> None:
        with RuntimeAPIEmulator(max_concurrency=limit) as emulator:
            for n in range(3):
                emulator.submit({"n": n})
            got: list[str] = []

            def poll() -> None:
                connection = Connection(emulator.address, timeout=5)
                headers, _ = next_invocation(connection)
                got.append(headers["Lambda-Runtime-Aws-Request-Id"])
                connection.close()

            pollers = [threading.Thread(target=poll) for _ in range(3)]
            for poller in pollers:
                poller.start()
            deadline = time.monotonic() + 5
            while len(got) < served_at_once and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)
            # The next call past the limit waits, until an answer frees a place.
            assert len(got) == served_at_once
            assert emulator.in_flight == served_at_once
            connection = Connection(emulator.address, timeout=5)
            reply = connection.request("POST", f"{RUNTIME}/invocation/{got[0]}/response", b"1")
            assert reply.status == 202
            for poller in pollers:
                poller.join(5)
            assert len(got) == 3
            assert emulator.in_flight == 2
            assert emulator.peak_in_flight == served_at_once
            connection.close()

    def test_no_timeout_is_enforced(self) -> None:
        with RuntimeAPIEmulator(max_concurrency=1) as emulator:
            late = emulator.submit({}, timeout_ms=100)
            waiting = emulator.submit({})
            connection = Connection(emulator.address, timeout=5)
            next_invocation(connection)
            time.sleep(0.3)
            # Past its deadline the invocation is still the runtime's, and holds its place.
            assert late.kind is None
            assert waiting.sent_at is None
            assert emulator.in_flight == 1
            path = f"{RUNTIME}/invocation/{late.request_id}/response"
            assert connection.request("POST", path, b'"late"').status == 202
            assert late.kind == "response"
            assert late.duration > 0.1
            assert json.loads(next_invocation(connection)[1]) == {}  # the place is free
            connection.close()

    def test_invoke_all(self) -> None:
        with RuntimeAPIEmulator(max_concurrency=2) as emulator:
            with pytest.raises(TimeoutError, match="no answer"):
                emulator.invoke_all([{"n": 0}], wait=0.1)  # nothing serves yet
            serve(emulator, 2, delay=0.1)
            started = time.monotonic()
            invocations = emulator.invoke_all([{"n": n} for n in range(1, 5)], wait=10)
            took = time.monotonic() - started
            assert [invocation.json() for invocation in invocations] == [
                {"n": n} for n in range(1, 5)
            ]
            assert emulator.peak_in_flight == 2
            assert 0.2 <= took < 1.0  # two at a time: the first event, then two rounds


# What a runtime writes to the telemetry pipe: frames, one of them in two writes.
_FRAMES = """
import json, os, time
fd = int(os.environ["_LAMBDA_TELEMETRY_LOG_FD"])
def frame(kind, message, timestamp):
    data = message.encode()
    header = kind.to_bytes(4, "big") + len(data).to_bytes(4, "big")
    return header + timestamp.to_bytes(8, "big") + data
os.write(fd, frame(0xA55A0012, json.dumps({"level": "WARNING", "message": "json"}), 1))
os.write(fd, frame(0xA55A0003, "[INFO]\\ttext\\nsecond line", 2))
os.write(fd, frame(0xA55A0002, "[1, 2]", 3))
data = frame(0xA55A0016, json.dumps({"level": "ERROR", "message": "in two writes"}), 4)
os.write(fd, data[:20])
time.sleep(0.1)
os.write(fd, data[20:])
print("stdout", os.environ["AWS_LAMBDA_LOG_FORMAT"], flush=True)
"""

# Two "workers" on the log socket, writing parts of lines in turns.
_LOG_SOCKET = """
import os, socket, time
path = os.environ["_LAMBDA_TELEMETRY_LOG_FD_PROVIDER_SOCKET"]
a, b = socket.socket(socket.AF_UNIX), socket.socket(socket.AF_UNIX)
a.connect(path)
b.connect(path)
for sock, data in [(a, b"worker a: one"), (b, b"worker b: whole\\n"), (a, b" two\\nlast")]:
    sock.sendall(data)
    time.sleep(0.05)
a.close()
b.close()
print("runtime process", flush=True)
"""


class TestLogs:
    def test_telemetry_frames(self) -> None:
        with RuntimeAPIEmulator(log_format="JSON") as emulator:
            process = emulator.start([sys.executable, "-c", _FRAMES], cwd=str(ROOT))
            assert process.wait(20) == 0, emulator.output
            emulator.end_environment()  # the process is gone: waits for the last frames
            assert emulator.output == "stdout JSON\n"
            assert emulator.log_records == [
                {"level": "WARNING", "message": "json", "frameType": 0xA55A0012},
                {"level": "ERROR", "message": "in two writes", "frameType": 0xA55A0016},
            ]
            assert emulator.log_texts == ["[INFO]\ttext\nsecond line", "[1, 2]"]
            frames = emulator.log_frames
            assert [frame.timestamp_us for frame in frames] == [1, 2, 3, 4]
            assert [frame.frame_type for frame in frames] == [
                0xA55A0012,
                0xA55A0003,
                0xA55A0002,
                0xA55A0016,
            ]

    def test_no_telemetry_pipe_without_a_log_format(self) -> None:
        with RuntimeAPIEmulator() as emulator:
            code = "import os; print(os.environ.get('_LAMBDA_TELEMETRY_LOG_FD'))"
            process = emulator.start([sys.executable, "-c", code], cwd=str(ROOT))
            assert process.wait(20) == 0
            assert emulator.output == "None\n"
            assert emulator.log_frames == []

    def test_log_socket_lines_follow_the_output(self) -> None:
        with RuntimeAPIEmulator(max_concurrency=2) as emulator:
            process = emulator.start([sys.executable, "-c", _LOG_SOCKET], cwd=str(ROOT))
            assert process.wait(20) == 0, emulator.output
            emulator.end_environment()
            # Whole lines, each worker's own; the last one ended at the end of its stream.
            assert emulator.output == (
                "runtime process\nworker b: whole\nworker a: one two\nlast\n"
            )


# A runtime process with a child in its process group, like the workers of an LMI runtime. The
# parent dies of SIGTERM; the child, on SIGTERM, takes 0.2 s to finish.
_FAMILY = """
import os, signal, sys, time
from mangum_like._lambda.rapi import Connection, register_extension
register_extension(Connection(sys.argv[1]), "test-ext", [])
if os.fork() == 0:
    def finish(*_):
        time.sleep(0.2)
        print("child finished", flush=True)
        os._exit(0)
    signal.signal(signal.SIGTERM, finish)
    print("child", os.getpid(), flush=True)
    while True:
        time.sleep(1)
time.sleep(60)
"""


class TestProcessGroup:
    @pytest.mark.parametrize("process_group", [False, True], ids=["runtime", "group"])
    def test_the_end_reaches_the_whole_environment(self, process_group: bool) -> None:
        with RuntimeAPIEmulator() as emulator:
            emulator.start([sys.executable, "-c", _FAMILY, emulator.address], cwd=str(ROOT))
            deadline = time.monotonic() + 20
            while "child" not in emulator.output:
                assert time.monotonic() < deadline, emulator.output
                time.sleep(0.01)
            child = int(emulator.output.split()[1])
            end = emulator.end_environment(grace=0.5, process_group=process_group)
            assert end.exit_code == -signal.SIGTERM
            assert not running(child)  # nothing outlives the environment
            if process_group:
                # The end waited for the child, which outlived the runtime process.
                assert end.signals == ["SIGTERM"]
                assert 0.2 <= end.elapsed < 0.5
                assert "child finished" in emulator.output
            else:
                # SIGTERM went to the runtime process alone: the child served on, until SIGKILL.
                assert end.signals == ["SIGTERM", "SIGKILL"]
                assert end.elapsed >= 0.5
                assert "child finished" not in emulator.output

    def test_close_ends_the_whole_group(self) -> None:
        with RuntimeAPIEmulator() as emulator:
            emulator.start([sys.executable, "-c", _FAMILY, emulator.address], cwd=str(ROOT))
            deadline = time.monotonic() + 20
            while "child" not in emulator.output:
                assert time.monotonic() < deadline, emulator.output
                time.sleep(0.01)
            child = int(emulator.output.split()[1])
        deadline = time.monotonic() + 5
        while running(child) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not running(child)


class TestOfficialRuntimeClient:
    """awslambdaric, the client the managed Python runtimes use, works against the emulator."""

    def test_invocations_and_errors(self, emulator: RuntimeAPIEmulator) -> None:
        emulator.start([*RIC, "tests.lambda_apps.echo.handler"], cwd=str(ROOT))
        first = emulator.invoke(
            {"n": 1},
            wait=30,
            timeout_ms=10_000,
            client_context={"custom": {"k": "v"}},
            identity={"cognitoIdentityId": "id-7", "cognitoIdentityPoolId": "pool"},
        )
        assert first.kind == "response", emulator.output
        result = first.json()
        assert result["event"] == {"n": 1}
        assert result["request_id"] == first.request_id
        assert 9_000 < result["remaining_ms"] <= 10_000
        assert result["client_context"] == {"k": "v"}
        assert result["identity_id"] == "id-7"
        failed = emulator.invoke({"fail": "boom"}, wait=10)
        assert failed.kind == "error"
        assert failed.json()["errorType"] == "ValueError"
        assert failed.json()["errorMessage"] == "boom"
        assert emulator.invoke({"n": 2}).json()["event"] == {"n": 2}
        assert emulator.end_environment().signals == ["SIGKILL"]

    def test_init_error(self, emulator: RuntimeAPIEmulator) -> None:
        emulator.start([*RIC, "tests.lambda_apps.missing.handler"], cwd=str(ROOT))
        assert emulator.process is not None
        assert emulator.process.wait(30) != 0
        [error] = emulator.init_errors
        assert error.json()["errorType"] == "Runtime.ImportModuleError"


def test_connection_reopens_once_after_the_api_closed_it() -> None:
    """A kept-alive connection the other side dropped is reopened for the next request."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)
    port = server.getsockname()[1]

    def serve() -> None:
        for _ in range(2):  # answer one request per connection, then hang up
            peer, _ = server.accept()
            with peer:
                peer.recv(65536)
                peer.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=serve)
    thread.start()
    connection = Connection(f"127.0.0.1:{port}", timeout=5)
    assert connection.request("GET", "/a").body == b"ok"
    time.sleep(0.1)  # the server has closed its end by now
    assert connection.request("GET", "/b").body == b"ok"
    thread.join(5)
    connection.close()
    server.close()


# -- the invocation id and 410 Gone, with plain http.client ----------------------------------------


def _http(emulator: RuntimeAPIEmulator) -> http.client.HTTPConnection:
    host, _, port = emulator.address.partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=5)


def _next(connection: http.client.HTTPConnection) -> tuple[dict[str, str], bytes]:
    connection.request("GET", f"{RUNTIME}/invocation/next")
    response = connection.getresponse()
    body = response.read()
    assert response.status == 200
    return dict(response.getheaders()), body


def _post(
    connection: http.client.HTTPConnection,
    path: str,
    body: bytes = b"{}",
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection.request("POST", path, body, headers or {})
    response = connection.getresponse()
    return response.status, response.read()


def _stream(
    connection: http.client.HTTPConnection,
    request_id: str,
    headers: dict[str, str],
    trailers: bytes = b"",
) -> tuple[int, bytes]:
    """A streamed /response in two chunks, ``trailers`` (raw lines) after the last."""
    connection.putrequest("POST", f"{RUNTIME}/invocation/{request_id}/response")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(b"3\r\none\r\n3\r\ntwo\r\n")
    connection.send(b"0\r\n" + trailers + b"\r\n")
    response = connection.getresponse()
    return response.status, response.read()


class TestInvocationId:
    """``Lambda-Runtime-Invocation-Id``: sent with each event, echoed by the runtime's posts."""

    def test_each_invocation_gets_a_fresh_id(self, emulator: RuntimeAPIEmulator) -> None:
        first = emulator.submit({"n": 1}, request_id="req-a")
        second = emulator.submit({"n": 2}, request_id="req-b")
        connection = _http(emulator)
        headers_a, _ = _next(connection)
        assert _post(connection, f"{RUNTIME}/invocation/req-a/response")[0] == 202
        headers_b, _ = _next(connection)
        assert headers_a["Lambda-Runtime-Invocation-Id"] == first.invocation_id
        assert headers_b["Lambda-Runtime-Invocation-Id"] == second.invocation_id
        assert first.invocation_id is not None and second.invocation_id is not None
        assert first.invocation_id != second.invocation_id
        assert uuid.UUID(first.invocation_id).version == 4
        assert first.invocation_id != first.request_id
        connection.close()

    def test_the_older_api_sends_none(self) -> None:
        with RuntimeAPIEmulator(send_invocation_id=False) as emulator:
            invocation = emulator.submit({}, request_id="req-old")
            connection = _http(emulator)
            headers, _ = _next(connection)
            assert "Lambda-Runtime-Invocation-Id" not in headers
            assert invocation.invocation_id is None
            assert _post(connection, f"{RUNTIME}/invocation/req-old/response")[0] == 202
            assert invocation.echoed_invocation_id is None
            connection.close()

    @pytest.mark.parametrize("kind", ["response", "error"])
    def test_the_echo_of_a_buffered_post_is_recorded(
        self, emulator: RuntimeAPIEmulator, kind: str
    ) -> None:
        invocation = emulator.submit({}, request_id="req-c")
        connection = _http(emulator)
        _next(connection)
        # In lower case, as curl (awslambdaric's client) sends it.
        echo = {"lambda-runtime-invocation-id": str(invocation.invocation_id)}
        assert _post(connection, f"{RUNTIME}/invocation/req-c/{kind}", b"{}", echo)[0] == 202
        emulator.wait(invocation, 5)
        assert (invocation.kind, invocation.posted, invocation.status) == (kind, kind, 202)
        assert invocation.echoed_invocation_id == invocation.invocation_id
        connection.close()

    def test_a_post_without_the_echo_is_recorded_as_such(
        self, emulator: RuntimeAPIEmulator
    ) -> None:
        invocation = emulator.submit({}, request_id="req-d")
        connection = _http(emulator)
        _next(connection)
        # Not refused: the emulator records what the runtime sent, no more.
        assert _post(connection, f"{RUNTIME}/invocation/req-d/response")[0] == 202
        assert invocation.kind == "response"
        assert invocation.echoed_invocation_id is None
        connection.close()

    @pytest.mark.parametrize(
        "trailers",
        [b"", b"Lambda-Runtime-Function-Error-Type: Boom\r\n"],
        ids=["clean", "error-trailers"],
    )
    def test_the_echo_of_a_streamed_post_is_recorded(
        self, emulator: RuntimeAPIEmulator, trailers: bytes
    ) -> None:
        invocation = emulator.submit({}, request_id="req-e")
        connection = _http(emulator)
        _next(connection)
        echo = {"Lambda-Runtime-Invocation-Id": str(invocation.invocation_id)}
        assert _stream(connection, "req-e", echo, trailers)[0] == 202
        emulator.wait(invocation, 5)
        assert invocation.kind == "response"
        assert invocation.body == b"onetwo"
        assert invocation.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
        assert invocation.echoed_invocation_id == invocation.invocation_id
        assert ("Lambda-Runtime-Function-Error-Type" in invocation.trailers) == bool(trailers)
        connection.close()


class TestGone:
    """A stale post refused with 410 Gone; the runtime goes on with the next invocation."""

    @pytest.mark.parametrize("kind", ["response", "error"])
    def test_a_buffered_post_is_refused_and_the_next_invocation_served(
        self, emulator: RuntimeAPIEmulator, kind: str
    ) -> None:
        stale = emulator.submit({"n": 1}, request_id="req-stale", gone=True)
        fresh = emulator.submit({"n": 2}, request_id="req-fresh")
        connection = _http(emulator)
        _next(connection)
        echo = {"Lambda-Runtime-Invocation-Id": str(stale.invocation_id)}
        status, body = _post(connection, f"{RUNTIME}/invocation/req-stale/{kind}", b"{}", echo)
        assert status == 410
        assert json.loads(body)["errorType"] == "InvocationGone"
        assert "req-stale" in json.loads(body)["errorMessage"]
        emulator.wait(stale, 5)
        assert (stale.kind, stale.posted, stale.status) == ("gone", kind, 410)
        assert stale.echoed_invocation_id == stale.invocation_id  # recorded all the same
        assert stale.answered_at is not None
        assert emulator.in_flight == 0
        # The invocation is over: a second post for it is refused as any answered one is.
        assert _post(connection, f"{RUNTIME}/invocation/req-stale/response")[0] == 400
        # The same connection goes on to the next invocation.
        headers, event = _next(connection)
        assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-fresh"
        assert json.loads(event) == {"n": 2}
        assert _post(connection, f"{RUNTIME}/invocation/req-fresh/response", b'"ok"')[0] == 202
        assert (fresh.kind, fresh.status, fresh.json()) == ("response", 202, "ok")
        connection.close()

    def test_a_streamed_post_is_read_to_its_end_then_refused(
        self, emulator: RuntimeAPIEmulator
    ) -> None:
        stale = emulator.submit({}, request_id="req-s", gone=True)
        connection = _http(emulator)
        _next(connection)
        echo = {"Lambda-Runtime-Invocation-Id": str(stale.invocation_id)}
        trailers = b"Lambda-Runtime-Function-Error-Type: Boom\r\n"
        status, body = _stream(connection, "req-s", echo, trailers)
        assert status == 410
        assert json.loads(body)["errorType"] == "InvocationGone"
        assert (stale.kind, stale.posted, stale.body) == ("gone", "response", b"onetwo")
        assert stale.trailers == {"Lambda-Runtime-Function-Error-Type": "Boom"}
        assert stale.echoed_invocation_id == stale.invocation_id
        emulator.submit({}, request_id="req-t")
        assert _next(connection)[0]["Lambda-Runtime-Aws-Request-Id"] == "req-t"
        connection.close()

    def test_a_refused_post_frees_its_place(self) -> None:
        with RuntimeAPIEmulator(max_concurrency=1) as emulator:
            emulator.submit({}, request_id="req-g", gone=True)
            emulator.submit({}, request_id="req-h")
            connection = _http(emulator)
            _next(connection)
            assert _post(connection, f"{RUNTIME}/invocation/req-g/response")[0] == 410
            assert _next(connection)[0]["Lambda-Runtime-Aws-Request-Id"] == "req-h"
            assert emulator.peak_in_flight == 1
            connection.close()


def test_next_requests_are_timed_as_they_arrive(emulator: RuntimeAPIEmulator) -> None:
    """``next_requests`` holds when each call arrived, before it waited for an event."""
    connection = _http(emulator)
    got: list[bytes] = []
    poller = threading.Thread(target=lambda: got.append(_next(connection)[1]))
    poller.start()
    deadline = time.monotonic() + 5
    while not emulator.next_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    [asked] = emulator.next_requests
    invocation = emulator.submit({"n": 1})
    poller.join(5)
    assert got == [b'{"n": 1}']
    assert invocation.sent_at is not None
    assert asked < invocation.sent_at
    connection.close()
