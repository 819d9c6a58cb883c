"""The official runtime client, awslambdaric 4.x, serving a Mangum handler on Lambda Managed
Instances.

With ``AWS_LAMBDA_MAX_CONCURRENCY`` set, ``python -m awslambdaric`` forks that many worker
processes (``multiprocessing``, "fork") and waits for them; each imports the handler itself and
serves one invocation at a time, its stdout and stderr connected to the log socket. So each
worker has a Mangum handler of its own: event loop, lifespan, state and pools. Mangum registers
the no-op extension once for them all, and asks the kernel for SIGTERM at the death of their
parent, which dies of Lambda's SIGTERM at once without passing it on.

Each test runs the client in a subprocess against the Runtime API emulator in its LMI mode, with
the app of ``tests/lambda_apps/concurrent.py`` or the flagship example,
``examples/fastapi_dynamodb`` (its table on a moto server this test process runs).
"""

from __future__ import annotations

import ctypes
import errno
import json
import logging
import multiprocessing
import os
import re
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest

import mangum_like._environment as environment_module
from examples.fastapi_dynamodb import dynamodb
from mangum_like._environment import (
    EXTENSION_NAME,
    _lmi_worker_parent,
    _Process,
    _sigterm_when_parent_dies,
)
from tests.lambda_emulator import RuntimeAPIEmulator
from tests.test_lambda_runtime import answer, url_event

ROOT = Path(__file__).resolve().parent.parent
RIC = (sys.executable, "-m", "awslambdaric")
APP = "tests.lambda_apps.concurrent.handler"
# The same, with the parent-death signal turned off again: the workers as the client leaves them.
ORPHANS = "tests.lambda_apps.lmi_orphans.handler"
FLAGSHIP = "examples.fastapi_dynamodb.app.handler"
N = 4
SLEEP_MS = 300


@contextmanager
def lmi(
    target: str = APP, env: dict[str, str] | None = None, *, log_format: str | None = None
) -> Iterator[RuntimeAPIEmulator]:
    """An LMI environment of ``N`` awslambdaric workers, every one of them polling."""
    with RuntimeAPIEmulator(max_concurrency=N, log_format=log_format) as emulator:
        emulator.start([*RIC, target], env, cwd=str(ROOT))
        # Each worker asks for its first invocation once it has imported the handler.
        deadline = time.monotonic() + 30
        while len(emulator.next_requests) < N:
            assert time.monotonic() < deadline, emulator.output
            time.sleep(0.01)
        yield emulator


def pids(emulator: RuntimeAPIEmulator, prefix: str) -> list[int]:
    """The process ids of the app's ``prefix <pid>`` lines."""
    return [int(pid) for pid in re.findall(re.escape(prefix) + r" (\d+)", emulator.output)]


def sleep_on_every_worker(emulator: RuntimeAPIEmulator) -> list[dict[str, Any]]:
    """``N`` requests at once, one for each worker; their answers."""
    invocations = emulator.invoke_all(
        [url_event("/sleep", f"ms={SLEEP_MS}") for _ in range(N)], wait=20
    )
    results = []
    for invocation in invocations:
        status, body = answer(invocation)
        assert status == 200, emulator.output
        results.append(json.loads(body))
    sent = min(i.sent_at or 0.0 for i in invocations)
    answered = max(i.answered_at or 0.0 for i in invocations)
    assert answered - sent < 2 * SLEEP_MS / 1000, emulator.output  # side by side
    return results


def test_every_worker_serves_with_its_own_lifespan_and_one_extension() -> None:
    with lmi() as emulator:
        first = sleep_on_every_worker(emulator)
        workers = {result["pid"] for result in first}
        assert len(workers) == N  # N processes, each with one invocation in flight
        assert [result["peak"] for result in first] == [1] * N
        assert emulator.peak_in_flight == N
        # A second round is served by the same workers, on the lifespans they started.
        again = sleep_on_every_worker(emulator) + sleep_on_every_worker(emulator)
        assert {result["pid"] for result in again} <= workers
        assert sorted(pids(emulator, "LIFESPAN STARTUP")) == sorted(workers)
        # The first worker to build the handler registered the extension for the
        # environment; the others did not try, and nothing warned.
        [extension] = emulator.registered_extensions
        assert (extension.name, extension.events) == (EXTENSION_NAME, [])
        assert emulator.rejected_registrations == []
        assert "WARNING" not in emulator.output
        assert "Traceback" not in emulator.output


@pytest.mark.parametrize(
    ("target", "process_group", "shutdowns"),
    [
        (APP, False, N),
        (ORPHANS, False, 0),
        (ORPHANS, True, N),
    ],
    ids=["sigterm-to-the-client", "without-pdeathsig", "sigterm-to-its-process-group"],
)
def test_the_end_of_the_environment(target: str, process_group: bool, shutdowns: int) -> None:
    """The client's process dies of SIGTERM at once and does not pass it on. Mangum's workers
    get it at their parent's death and run their lifespan shutdown within Lambda's 500 ms.
    Without that, a worker runs its shutdown only if Lambda signals the whole process group
    (as AWS's Runtime Interface Emulator does); else SIGKILL ends it with nothing run."""
    with lmi(target) as emulator:
        workers = {result["pid"] for result in sleep_on_every_worker(emulator)}
        assert len(workers) == N
        end = emulator.end_environment(grace=0.5, process_group=process_group)
        assert end.exit_code == -signal.SIGTERM  # the client's own process: no handler
        assert len(pids(emulator, "LIFESPAN SHUTDOWN")) == shutdowns, emulator.output
        if shutdowns:
            assert set(pids(emulator, "LIFESPAN SHUTDOWN")) == workers
            assert end.signals == ["SIGTERM"], emulator.output  # all gone before SIGKILL
            assert end.elapsed < 0.5
        else:
            # The orphaned workers served on until the end of the Shutdown phase.
            assert end.signals == ["SIGTERM", "SIGKILL"], emulator.output
            assert "SIGTERM received" not in emulator.output


def test_json_logs_of_parent_and_workers() -> None:
    """On LMI logs are JSON. The client's process writes to the telemetry pipe (its one record,
    at DEBUG) and closes it; the workers write their records to stdout, the log socket."""
    env = {"AWS_LAMBDA_LOG_LEVEL": "DEBUG"}
    with lmi(env=env, log_format="JSON") as emulator:
        invocations = emulator.invoke_all(
            [url_event("/log", f"marker=m{index}") for index in range(N)], wait=20
        )
        assert [answer(i)[1] for i in invocations] == [f"m{i}".encode() for i in range(N)]
        emulator.end_environment(grace=0.5)
        [pool] = emulator.log_records
        assert pool["message"] == {
            "event": "runtime_worker_pool_initializing",
            "workerCount": N,
            "executionEnvironmentMaxConcurrency": N,
        }
        assert (pool["level"], pool["frameType"]) == ("DEBUG", 0xA55A000A)
        assert emulator.log_texts == []
        records = [
            json.loads(line) for line in emulator.output.splitlines() if line.startswith("{")
        ]
    messages = [record["message"] for record in records]
    registered = f"Registered the no-op extension {EXTENSION_NAME!r}: SIGTERM will arrive"
    assert messages.count(registered) == 1
    assert messages.count(
        "Another worker process of this environment registered the no-op extension"
    ) == (N - 1)
    # Each record carries the request id of the invocation its worker was serving.
    by_marker = {f"m{index}": i.request_id for index, i in enumerate(invocations)}
    seen = [r for r in records if re.fullmatch(r"(handling|done) m\d", str(r["message"]))]
    assert len(seen) == 2 * N
    for record in seen:
        assert record["requestId"] == by_marker[record["message"].split()[1]], record
    assert messages.count("Lifespan shutdown complete") == N


@pytest.fixture
def dynamodb_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto server with the flagship's table, for every worker: its URL."""
    from moto.server import ThreadedMotoServer

    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", dynamodb.EMBEDDED_VARIABLE):
        monkeypatch.delenv(name, raising=False)  # the runtime inherits the test's environment
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    resource = boto3.resource(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    dynamodb.create_table(resource, "items-lmi")
    try:
        yield endpoint
    finally:
        # moto keeps its data per process: start the next test afresh.
        reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=10).close()
        server.stop()


def test_the_flagship_example_on_every_worker(dynamodb_endpoint: str) -> None:
    env = {
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        dynamodb.TABLE_NAME_VARIABLE: "items-lmi",
        "AWS_LAMBDA_LOG_LEVEL": "INFO",
    }
    with lmi(FLAGSHIP, env) as emulator:
        events = [
            url_event(
                "/items",
                method="POST",
                body=json.dumps({"name": f"item {index}", "quantity": index}),
                headers={"content-type": "application/json"},
            )
            for index in range(N)
        ]
        created = []
        for invocation in emulator.invoke_all(events, wait=20):
            status, body = answer(invocation)
            assert status == 201, emulator.output
            created.append(json.loads(body))
        assert [(item["name"], item["quantity"]) for item in created] == [
            (f"item {index}", index) for index in range(N)
        ]
        assert emulator.peak_in_flight == N
        status, body = answer(emulator.invoke(url_event("/items")))
        assert status == 200
        listed = json.loads(body)["items"]
        assert sorted(listed, key=lambda item: item["id"]) == sorted(
            created, key=lambda item: item["id"]
        )
        assert len(emulator.registered_extensions) == 1
        end = emulator.end_environment(grace=0.5)
        assert end.signals == ["SIGTERM"], emulator.output
        assert emulator.output.count("SIGTERM received: the execution environment is ending") == N
        assert "WARNING" not in emulator.output


# -- the worker process's side, in process, down to its fallbacks ---------------------------------


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[RuntimeAPIEmulator]:
    with RuntimeAPIEmulator() as emulator:
        monkeypatch.setenv("AWS_LAMBDA_RUNTIME_API", emulator.address)
        yield emulator


@pytest.fixture
def parent() -> int:
    """A runtime process id no other test's workers share."""
    return 1_000_000 + int(time.monotonic_ns() % 1_000_000)


def debug_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "mangum_like"]


class TestWorkerProcess:
    def test_which_processes_are_workers(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(multiprocessing, "parent_process", lambda: SimpleNamespace(pid=42))
        monkeypatch.delenv("AWS_LAMBDA_MAX_CONCURRENCY", raising=False)
        assert _lmi_worker_parent() is None  # not on LMI
        monkeypatch.setenv("AWS_LAMBDA_MAX_CONCURRENCY", "4")
        assert _lmi_worker_parent() == 42
        # The client's own process, and our runtime's workers (os.fork): no multiprocessing
        # parent.
        monkeypatch.setattr(multiprocessing, "parent_process", lambda: None)
        assert _lmi_worker_parent() is None
        monkeypatch.delitem(sys.modules, "multiprocessing")
        assert _lmi_worker_parent() is None

    def test_the_first_worker_registers_for_all(
        self, emulator: RuntimeAPIEmulator, parent: int, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        first, second = _Process(), _Process()
        first.register_for_workers(emulator.address, parent)
        second.register_for_workers(emulator.address, parent)
        [extension] = emulator.registered_extensions
        assert first.extension == extension.identifier
        assert second.extension is None
        assert emulator.rejected_registrations == []
        assert (
            "Another worker process of this environment registered the no-op extension"
            in debug_lines(caplog)
        )
        first.extension_claim.close()

    def test_a_sibling_that_does_not_finish_registering(
        self,
        emulator: RuntimeAPIEmulator,
        parent: int,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        monkeypatch.setattr(environment_module, "_SIBLING_WAIT", 0.1)
        with socket.socket(socket.AF_UNIX) as stuck:
            # Bound and never listened on: a sibling registering for ever.
            stuck.bind(f"\0mangum_like-extension-{emulator.address}-{parent}")
            started = time.monotonic()
            _Process().register_for_workers(emulator.address, parent)
            assert 0.1 <= time.monotonic() - started < 1.0
        assert emulator.registered_extensions == []
        assert any("did not finish within 0.1 s" in line for line in debug_lines(caplog))

    def test_without_abstract_socket_names_each_worker_tries(
        self, emulator: RuntimeAPIEmulator, parent: int, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class NoAbstractNames(socket.socket):
            def bind(self, address: Any) -> None:
                if self.family == socket.AF_UNIX:
                    raise OSError(errno.EINVAL, "no abstract socket names here")
                super().bind(address)

        monkeypatch.setattr(socket, "socket", NoAbstractNames)
        process = _Process()
        process.register_for_workers(emulator.address, parent)
        [extension] = emulator.registered_extensions
        assert process.extension == extension.identifier
        assert process.extension_claim is None

    def test_sigterm_when_the_parent_dies(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[int, ...]] = []
        kills: list[tuple[int, int]] = []

        class Libc:
            def __init__(self, name: str | None, use_errno: bool) -> None:
                pass

            def prctl(self, *args: int) -> int:
                calls.append(args)
                return 0

        monkeypatch.setattr(ctypes, "CDLL", Libc)
        monkeypatch.setattr(os, "kill", lambda pid, signum: kills.append((pid, signum)))
        _sigterm_when_parent_dies(os.getppid())
        assert calls == [(1, signal.SIGTERM, 0, 0, 0)]  # PR_SET_PDEATHSIG, SIGTERM
        assert kills == []
        # The parent ended before the request took effect: SIGTERM at once.
        _sigterm_when_parent_dies(os.getppid() + 1)
        assert kills == [(os.getpid(), signal.SIGTERM)]

    @pytest.mark.parametrize("failure", ["prctl fails", "no libc", "not Linux"])
    def test_no_parent_death_signal_to_be_had(
        self, failure: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG, "mangum_like")
        calls: list[tuple[int, ...]] = []

        class Libc:
            def __init__(self, name: str | None, use_errno: bool) -> None:
                if failure == "no libc":
                    raise OSError("no libc")

            def prctl(self, *args: int) -> int:
                calls.append(args)
                return -1

        monkeypatch.setattr(ctypes, "CDLL", Libc)
        monkeypatch.setattr(os, "kill", pytest.fail)
        if failure == "not Linux":
            monkeypatch.setattr(sys, "platform", "darwin")
        _sigterm_when_parent_dies(os.getppid() + 1)
        said = any("Could not ask for SIGTERM" in line for line in debug_lines(caplog))
        assert said == (failure != "not Linux")
        assert len(calls) == (failure == "prctl fails")
