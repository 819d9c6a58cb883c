"""End to end: handlers run under the official runtime client (awslambdaric) in a subprocess,
against the Runtime API emulator, as the managed python3.12 runtime runs them.

What only the real runtime can show: the lifespan starts once for the whole environment, an app
failure stays an HTTP answer, a failed ``on``-mode startup is an invocation error and is retried,
the no-op extension is registered during Init so that the end of the environment delivers
SIGTERM and runs lifespan shutdown within Lambda's 500 ms, a request that overruns its deadline
answers 504 and leaves the environment warm, and SnapStart starts the lifespan after the restore.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mangum_like._environment import EXTENSION_NAME
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator

from .helpers import load_event

ROOT = Path(__file__).resolve().parent.parent
RIC = [sys.executable, "-m", "awslambdaric"]
LIFECYCLE = "tests.lambda_apps.lifecycle.handler"


def http_event(path: str, query: str = "") -> dict[str, Any]:
    event = load_event("powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json")
    event["rawPath"] = path
    event["rawQueryString"] = query
    event["queryStringParameters"] = None
    event["requestContext"]["http"]["path"] = path
    return event


def lines(emulator: RuntimeAPIEmulator, prefix: str = "LIFECYCLE ") -> list[str]:
    return [line[len(prefix) :] for line in emulator.output.splitlines() if line.startswith(prefix)]


@pytest.fixture
def emulator() -> Iterator[RuntimeAPIEmulator]:
    with RuntimeAPIEmulator() as emulator:
        yield emulator


def start(emulator: RuntimeAPIEmulator, handler: str = LIFECYCLE, **env: str) -> None:
    emulator.start([*RIC, handler], env=env, cwd=str(ROOT))


def ok(invocation: Invocation, emulator: RuntimeAPIEmulator) -> dict[str, Any]:
    assert invocation.kind == "response", emulator.output
    result: dict[str, Any] = invocation.json()
    return result


def test_example_app_serves_100_invocations_on_one_lifespan(
    emulator: RuntimeAPIEmulator,
) -> None:
    start(emulator, "examples.app.handler")
    results = [
        ok(emulator.invoke(http_event("/hello/lambda"), wait=30), emulator) for _ in range(100)
    ]
    bodies = [json.loads(result["body"]) for result in results]
    assert [result["statusCode"] for result in results] == [200] * 100
    # The lifespan state is one for the environment: its counter runs 1..100 and its start time
    # never changes, so lifespan startup ran exactly once.
    assert [body["served_by_this_environment"] for body in bodies] == list(range(1, 101))
    assert len({body["environment_started_at"] for body in bodies}) == 1


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_lifespan_starts_once_and_an_app_error_is_a_500(
    emulator: RuntimeAPIEmulator, backend: str
) -> None:
    start(emulator, LIFECYCLE_BACKEND=backend)
    counts = [
        json.loads(ok(emulator.invoke(http_event("/count")), emulator)["body"]) for _ in range(5)
    ]
    assert [count["served"] for count in counts] == [1, 2, 3, 4, 5]
    failed = ok(emulator.invoke(http_event("/fail")), emulator)  # not an invocation error
    assert failed["statusCode"] == 500
    assert failed["body"] == "Internal Server Error"
    assert "ValueError: the app failed" in emulator.output
    after = ok(emulator.invoke(http_event("/count")), emulator)
    assert json.loads(after["body"])["served"] == 6
    assert lines(emulator) == ["startup"]


def test_on_mode_startup_failure_is_an_invocation_error_then_retried(
    emulator: RuntimeAPIEmulator,
) -> None:
    start(emulator, LIFECYCLE_LIFESPAN="on", LIFECYCLE_FAILED_STARTUPS="1")
    first = emulator.invoke(http_event("/count"))
    assert first.kind == "error", emulator.output
    error = first.json()
    assert error["errorType"] == "LifespanFailure"
    assert "database unreachable (attempt 1)" in error["errorMessage"]
    second = ok(emulator.invoke(http_event("/count")), emulator)
    assert second["statusCode"] == 200
    assert json.loads(second["body"])["served"] == 1
    assert lines(emulator) == ["startup failed (attempt 1)", "startup"]


def test_extension_registered_during_init_and_shutdown_runs_on_sigterm(
    emulator: RuntimeAPIEmulator,
) -> None:
    start(emulator)
    ok(emulator.invoke(http_event("/count"), wait=30), emulator)
    [extension] = emulator.registered_extensions
    assert extension.name == EXTENSION_NAME
    assert extension.events == []
    assert emulator.rejected_registrations == []  # registered before Init ended
    assert extension.polling.is_set()  # its event/next long-poll is held open

    end = emulator.end_environment(grace=0.5)

    assert end.signals == ["SIGTERM"], emulator.output  # no SIGKILL: done within 500 ms
    assert end.elapsed < 0.5
    assert end.exit_code == 128 + 15  # as the default action of SIGTERM reports it
    assert lines(emulator) == ["startup", "shutdown"]


def test_handler_built_after_init_goes_without_the_extension(
    emulator: RuntimeAPIEmulator,
) -> None:
    start(emulator, "tests.lambda_apps.lazy.handler")
    assert ok(emulator.invoke(http_event("/count"), wait=30), emulator)["body"] == "ok"
    assert emulator.registered_extensions == []
    assert emulator.rejected_registrations == []  # it did not even try
    assert "Handler built during an invocation, after the Init phase" in emulator.output
    # Without an extension, the environment ends with SIGKILL: no shutdown can run.
    assert emulator.end_environment().signals == ["SIGKILL"]


def test_init_phase_startup_then_shutdown_on_sigterm_on_trio(
    emulator: RuntimeAPIEmulator,
) -> None:
    start(emulator, LIFECYCLE_BACKEND="trio", LIFECYCLE_INIT_STARTUP="1")
    emulator.wait_init(30)
    # The lifespan started during Init, before any invocation arrived.
    deadline = time.monotonic() + 5
    while lines(emulator) != ["startup"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert lines(emulator) == ["startup"]
    ok(emulator.invoke(http_event("/count")), emulator)
    end = emulator.end_environment(grace=0.5)
    assert end.signals == ["SIGTERM"], emulator.output
    assert lines(emulator) == ["startup", "shutdown"]


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_request_slower_than_its_deadline_answers_504_and_stays_warm(
    emulator: RuntimeAPIEmulator, backend: str
) -> None:
    start(emulator, LIFECYCLE_BACKEND=backend, LIFECYCLE_TIMEOUT_MARGIN="0.4")
    ok(emulator.invoke(http_event("/count"), wait=30), emulator)
    slow = emulator.invoke(http_event("/slow", "seconds=5"), timeout_ms=1200)
    result = ok(slow, emulator)
    assert result["statusCode"] == 504
    # Answered before Lambda's own timeout would have killed the environment.
    assert slow.duration < 1.2
    assert "was cut short" in emulator.output
    assert "GET /slow" in emulator.output
    nxt = ok(emulator.invoke(http_event("/count")), emulator)
    assert json.loads(nxt["body"])["served"] == 2  # same lifespan state
    assert lines(emulator) == ["startup", "slow saw http.disconnect", "slow cancelled"]


def test_snap_start_runs_startup_after_the_restore() -> None:
    with RuntimeAPIEmulator(snap_start=True) as emulator:
        start(emulator, LIFECYCLE_INIT_STARTUP="1")
        assert emulator.restore_requested.wait(30), emulator.output
        time.sleep(0.2)
        # The snapshot is taken now: no lifespan has run, no connection is open in it.
        assert lines(emulator) == []
        emulator.restore()
        # The runtime hooks run right after the restore, before the runtime asks for work.
        emulator.wait_init(30)
        assert lines(emulator) == ["startup"]
        result = ok(emulator.invoke(http_event("/count")), emulator)
        assert json.loads(result["body"])["served"] == 1
        assert lines(emulator) == ["startup"]
        assert emulator.restore_errors == []
