"""Our runtime loop on Lambda Managed Instances: many invocations in flight in one environment.

Each test runs ``python -m mangum_like.runtime`` in a subprocess against the Runtime API emulator
in its LMI mode (``AWS_LAMBDA_MAX_CONCURRENCY``, concurrent ``/next``, no freeze, no timeout
enforced by Lambda, JSON logs), with the app of ``tests/lambda_apps/concurrent.py``. In the
``loop`` mode (the default) every invocation runs on the handler's one event loop, with one
lifespan; in the ``process`` mode each of N workers has its own.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import event_names, load_event
from tests.lambda_emulator import Invocation, RuntimeAPIEmulator
from tests.test_lambda_runtime import STREAMING, answer, split_stream, url_event

ROOT = Path(__file__).resolve().parent.parent
OURS = (sys.executable, "-m", "mangum_like.runtime")
APP = "tests.lambda_apps.concurrent"
N = 16
IO_SECONDS = 0.2


@contextmanager
def lmi(
    target: str = f"{APP}.handler",
    env: dict[str, str] | None = None,
    *,
    concurrency: int = N,
    log_format: str | None = None,
) -> Iterator[RuntimeAPIEmulator]:
    """An LMI execution environment running our runtime; ended as Lambda ends it."""
    with RuntimeAPIEmulator(max_concurrency=concurrency, log_format=log_format) as emulator:
        emulator.start([*OURS, target], env, cwd=str(ROOT))
        emulator.wait_init(20)
        yield emulator
        if emulator.process is not None and emulator.process.poll() is None:
            emulator.end_environment(grace=2.0)


def lines(emulator: RuntimeAPIEmulator, prefix: str) -> list[str]:
    """The app's ``prefix <pid>`` lines; several processes' lines may share a line of output."""
    return re.findall(re.escape(prefix) + r" \d+", emulator.output)


def alb_event(path: str, query: dict[str, str] | None = None) -> Any:
    """An ALB event (a source that cannot stream) for ``GET path``."""
    event = load_event(event_names("alb-single")[0])
    event.update(path=path, httpMethod="GET", body="", isBase64Encoded=False)
    event["queryStringParameters"] = query or {}
    return event


def span(invocations: Sequence[Invocation]) -> float:
    """Seconds from the first event handed out to the last answer."""
    sent = [i.sent_at for i in invocations if i.sent_at is not None]
    answered = [i.answered_at for i in invocations if i.answered_at is not None]
    assert len(sent) == len(answered) == len(invocations)
    return max(answered) - min(sent)


def warm(emulator: RuntimeAPIEmulator) -> None:
    status, body = answer(emulator.invoke(url_event("/sleep", "ms=0")))
    assert status == 200, body


@pytest.mark.parametrize("name", ["handler", "trio_handler"], ids=["asyncio", "trio"])
def test_sixteen_concurrent_requests_share_one_loop_and_one_lifespan(name: str) -> None:
    with lmi(f"{APP}.{name}") as emulator:
        warm(emulator)
        invocations = emulator.invoke_all([url_event("/sleep", "ms=200") for _ in range(N)])
        results = [json.loads(answer(i)[1]) for i in invocations]
        assert {r["slept"] for r in results} == {200}
        assert len({r["pid"] for r in results}) == 1  # one process
        assert max(r["peak"] for r in results) == N  # all in flight at once, on one loop
        took = span(invocations)
        assert took < 1.5 * IO_SECONDS, f"{took:.3f} s\n{emulator.output}"
        assert emulator.peak_in_flight == N
        end = emulator.end_environment(grace=1.0)
    assert len(lines(emulator, "LIFESPAN STARTUP")) == 1, emulator.output
    assert len(lines(emulator, "LIFESPAN SHUTDOWN")) == 1, emulator.output
    assert end.signals == ["SIGTERM"], emulator.output
    assert end.exit_code == 128 + 15


def test_deadline_guard_cuts_one_invocation_while_the_others_go_on() -> None:
    with lmi(concurrency=4) as emulator:
        warm(emulator)
        slow = emulator.submit(url_event("/sleep", "ms=30000"), timeout_ms=1500)
        quick = [emulator.submit(url_event("/sleep", "ms=200")) for _ in range(3)]
        for invocation in quick:
            emulator.wait(invocation)
            assert answer(invocation)[0] == 200
            assert invocation.duration < 1.0
        emulator.wait(slow, 10)
        assert answer(slow)[0] == 504, emulator.output
        # The guard cuts at the deadline less the margin (1 s of 1.5), not Lambda.
        assert 0.9 < slow.duration < 1.4, emulator.output
        # The environment serves on, with all its pollers.
        again = emulator.invoke_all([url_event("/sleep", "ms=100") for _ in range(4)])
        assert [answer(i)[0] for i in again] == [200] * 4
        assert span(again) < 0.3


def test_streamed_and_buffered_responses_interleave() -> None:
    with lmi(env=STREAMING, concurrency=4) as emulator:
        warm(emulator)
        streamed = emulator.submit(url_event("/stream", "n=5&ms=100"))
        buffered = emulator.submit(alb_event("/sleep", {"ms": "150"}))
        emulator.wait(streamed)
        emulator.wait(buffered)
        assert streamed.headers["Lambda-Runtime-Function-Response-Mode"] == "streaming"
        prelude, body = split_stream(streamed)
        assert prelude["statusCode"] == 200
        assert body == b"".join(f"chunk {i}\n".encode() for i in range(5))
        assert "Lambda-Runtime-Function-Response-Mode" not in buffered.headers
        assert buffered.json()["statusCode"] == 200
        # The buffered answer came while the stream was still going.
        assert buffered.answered_at is not None and streamed.answered_at is not None
        assert buffered.answered_at < streamed.answered_at
        assert streamed.chunks[0][0] < buffered.answered_at


def test_a_failing_invocation_does_not_disturb_the_others() -> None:
    with lmi(concurrency=4) as emulator:
        warm(emulator)
        events = [url_event("/sleep", "ms=200"), url_event("/fail"), url_event("/sleep", "ms=200")]
        invocations = emulator.invoke_all([*events, {"not": "an HTTP event"}])
        assert answer(invocations[0])[0] == 200
        assert answer(invocations[1])[0] == 500
        assert answer(invocations[2])[0] == 200
        assert invocations[3].kind == "error"
        assert invocations[3].json()["errorType"] == "UnsupportedEvent"
        assert "the /fail route fails" in emulator.output
        assert answer(emulator.invoke(url_event("/sleep", "ms=0")))[0] == 200


def test_json_logs_carry_the_request_id_of_their_own_invocation() -> None:
    with lmi(concurrency=8, log_format="JSON") as emulator:
        warm(emulator)
        invocations = emulator.invoke_all(
            [url_event("/log", f"marker=m{index}") for index in range(8)]
        )
        assert [answer(i)[1] for i in invocations] == [f"m{i}".encode() for i in range(8)]
        by_marker = {f"m{index}": i.request_id for index, i in enumerate(invocations)}
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            records = [r for r in emulator.log_records if isinstance(r.get("message"), str)]
            seen = [r for r in records if re.fullmatch(r"(handling|done) m\d+", r["message"])]
            if len(seen) == 16:
                break
            time.sleep(0.05)
        assert len(seen) == 16, emulator.log_records
        for record in seen:
            marker = record["message"].split()[1]
            assert record["requestId"] == by_marker[marker], record
            assert record["level"] == "WARNING"
            assert record["logger"] == "tests.concurrent"


def test_each_invocation_has_its_own_trace_id_on_its_context() -> None:
    with lmi(f"{APP}.trace", concurrency=2) as emulator:
        first = emulator.submit({}, trace_id="Root=1-00000000-000000000000000000000001")
        second = emulator.submit({}, trace_id="Root=1-00000000-000000000000000000000002")
        emulator.wait(first)
        emulator.wait(second)
        assert first.json() == {
            "xray_trace_id": "Root=1-00000000-000000000000000000000001",
            "env": None,
        }
        assert second.json()["xray_trace_id"] == "Root=1-00000000-000000000000000000000002"


def test_a_plain_handler_runs_in_a_pool_of_threads() -> None:
    with lmi(f"{APP}.plain_handler", concurrency=4) as emulator:
        invocations = emulator.invoke_all([{} for _ in range(4)])
        threads = {i.json()["thread"] for i in invocations}
        assert len(threads) == 4
        assert span(invocations) < 2 * 0.2


def test_process_mode_forks_workers_each_with_its_lifespan() -> None:
    env = {"MANGUM_LIKE_CONCURRENCY": "process"}
    with lmi(env=env, concurrency=4) as emulator:
        invocations = emulator.invoke_all([url_event("/sleep", "ms=300") for _ in range(4)])
        results = [json.loads(answer(i)[1]) for i in invocations]
        assert len({r["pid"] for r in results}) == 4
        assert span(invocations) < 2 * 0.3
        # One extension for the environment, registered by the parent.
        assert len(emulator.registered_extensions) == 1
        assert emulator.rejected_registrations == []
        end = emulator.end_environment(grace=1.0)
    assert len(lines(emulator, "LIFESPAN STARTUP")) == 4, emulator.output
    # SIGTERM reached every worker: each ran its lifespan shutdown, within Lambda's window.
    assert len(lines(emulator, "LIFESPAN SHUTDOWN")) == 4, emulator.output
    assert end.signals == ["SIGTERM"], emulator.output
    assert end.exit_code == 128 + 15


def test_process_mode_replaces_a_worker_that_dies() -> None:
    env = {"MANGUM_LIKE_CONCURRENCY": "process"}
    with lmi(f"{APP}.exit_on_request", env, concurrency=2) as emulator:
        died = emulator.submit({"exit": True}, timeout_ms=1000)
        time.sleep(0.5)
        assert died.kind is None  # the worker died without an answer
        assert "ended with status 3; a new one takes its place" in emulator.output
        answers = emulator.invoke_all([{"exit": False} for _ in range(3)])
        assert [i.json() for i in answers] == [{"ok": True}] * 3


def test_bad_concurrency_settings_are_init_errors() -> None:
    with RuntimeAPIEmulator() as emulator:
        emulator.start(
            [*OURS, f"{APP}.handler"],
            {"AWS_LAMBDA_MAX_CONCURRENCY": "many"},
            cwd=str(ROOT),
        )
        assert emulator.process is not None
        assert emulator.process.wait(20) == 1
        [error] = emulator.init_errors
        assert error.json()["errorType"] == "Runtime.InvalidConcurrency"
        assert "AWS_LAMBDA_MAX_CONCURRENCY" in error.json()["errorMessage"]


def test_json_logs_write_an_invocations_error_as_its_document() -> None:
    """As the official client does in JSON: the error document's fields at the top level."""
    with lmi(concurrency=2, log_format="JSON") as emulator:
        failed = emulator.invoke({"not": "an HTTP event"})
        assert failed.kind == "error"
        document = failed.json()
        deadline = time.monotonic() + 5
        errors: list[dict[str, Any]] = []
        while not errors and time.monotonic() < deadline:
            errors = [r for r in emulator.log_records if r.get("errorType") == "UnsupportedEvent"]
            time.sleep(0.05)
        [record] = errors
        assert record["level"] == "ERROR"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", record["timestamp"])
        assert record["requestId"] == failed.request_id
        for field in ("errorType", "errorMessage", "requestId", "stackTrace"):
            assert record[field] == document.get(field, failed.request_id), field
        assert "message" not in record
