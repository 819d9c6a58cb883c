"""``Lambda-Runtime-Invocation-Id`` and ``410 Gone``, end to end: each runtime in a subprocess
against the Runtime API emulator.

The Runtime API answers ``invocation/next`` with an opaque ``Lambda-Runtime-Invocation-Id``
(distinct from the request id); the runtime sends it back with the same name and value on its
``/response`` post (buffered, or streamed, also when the stream ends with error trailers) and on
its ``/error`` post. Lambda refuses a stale post (the invocation timed out, another one is
current) with ``410 Gone``: the runtime logs it as one WARNING and goes on to its next
invocation.

Both the official client (``python -m awslambdaric``, 4.2.2 here) and our runtime loop
(``python -m mangum_like.runtime``) are checked on what both do; streaming and Lambda Managed
Instances' loop mode are ours alone. What the official client does with a 410 depends on its
mode: on Lambda Managed Instances it logs the failed post and serves on; in the on-demand mode it
raises from its loop and the process exits.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from tests.lambda_emulator import Invocation, RuntimeAPIEmulator
from tests.test_lambda_runtime import OURS, RIC, STREAMING, answer, runtime, split_stream, url_event
from tests.test_lmi_awslambdaric import lmi as ric_lmi
from tests.test_lmi_runtime import lmi as our_lmi

APPS = "tests.lambda_apps"
PLAIN = f"{APPS}.echo.handler"  # a plain handler(event, context); {"fail": m} raises
ASGI = f"{APPS}.streaming.handler"  # a Mangum handler; the path picks the behaviour
CONCURRENT = f"{APPS}.concurrent.handler"
RUNTIMES = {"awslambdaric": RIC, "mangum_like": OURS}
BOTH = pytest.mark.parametrize("argv", list(RUNTIMES.values()), ids=list(RUNTIMES))
GONE_WARNING_WITHIN = 5.0  # seconds for the runtime's WARNING about a 410 to show


def echoed(invocation: Invocation, emulator: RuntimeAPIEmulator) -> None:
    """The runtime's post carried this invocation's own id back."""
    assert invocation.invocation_id is not None
    assert invocation.echoed_invocation_id == invocation.invocation_id, (
        f"posted headers {invocation.headers}; runtime output:\n{emulator.output}"
    )


def lines_when(
    emulator: RuntimeAPIEmulator, wanted: Callable[[str], bool], seconds: float
) -> list[str]:
    """The output's lines that match, once there are some (``seconds`` at most): what worker
    processes write to the log socket may arrive a little after their post."""
    deadline = time.monotonic() + seconds
    while True:
        found = [line for line in emulator.output.splitlines() if wanted(line)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.01)


def gone_lines(emulator: RuntimeAPIEmulator, request_id: str) -> list[str]:
    return lines_when(
        emulator, lambda line: request_id in line and "410" in line, GONE_WARNING_WITHIN
    )


def assert_one_gone_warning(emulator: RuntimeAPIEmulator, stale: Invocation) -> None:
    """One line names the refused request id and the 410, at WARNING; no traceback."""
    found = gone_lines(emulator, stale.request_id)
    assert len(found) == 1, f"lines naming the 410 of {stale.request_id}:\n{emulator.output}"
    assert "WARNING" in found[0], found[0]
    assert "Traceback" not in emulator.output, emulator.output


def events_of(kind: str) -> tuple[Any, dict[str, str]]:
    """An event for ``kind`` of post, and the environment our runtime needs to post it so."""
    if kind == "buffered":
        return url_event("/echo"), {}
    if kind == "error":
        return {"fail": "boom"}, {}
    return url_event("/sse", "events=3&interval=0.01"), STREAMING


# -- the echo, both runtimes ----------------------------------------------------------------------


@BOTH
def test_buffered_response_echoes_the_invocation_id(argv: Sequence[str]) -> None:
    with runtime([*argv, PLAIN]) as emulator:
        invocations = [emulator.invoke({"n": n}) for n in range(3)]
        for n, invocation in enumerate(invocations):
            assert invocation.kind == "response", emulator.output
            assert invocation.json()["event"] == {"n": n}
            echoed(invocation, emulator)
        assert len({invocation.invocation_id for invocation in invocations}) == 3


@BOTH
def test_buffered_http_response_of_a_mangum_handler_echoes_it(argv: Sequence[str]) -> None:
    with runtime([*argv, ASGI]) as emulator:
        invocation = emulator.invoke(url_event("/echo", "q=1"))
        status, body = answer(invocation)
        assert status == 200, emulator.output
        assert json.loads(body)["path"] == "/echo"
        echoed(invocation, emulator)


@BOTH
def test_error_post_echoes_the_invocation_id(argv: Sequence[str]) -> None:
    with runtime([*argv, PLAIN]) as emulator:
        failed = emulator.invoke({"fail": "boom"})
        assert failed.kind == "error", emulator.output
        assert (failed.json()["errorType"], failed.json()["errorMessage"]) == ("ValueError", "boom")
        echoed(failed, emulator)
        after = emulator.invoke({"n": 1})  # the next invocation echoes its own id
        assert after.kind == "response", emulator.output
        echoed(after, emulator)
        assert after.invocation_id != failed.invocation_id


# -- the echo, our runtime's streams and Lambda Managed Instances ---------------------------------


def test_streamed_response_echoes_the_invocation_id() -> None:
    with runtime([*OURS, ASGI], STREAMING) as emulator:
        invocation = emulator.invoke(url_event("/sse", "events=3&interval=0.01"))
        assert invocation.kind == "response", emulator.output
        prelude, body = split_stream(invocation)
        assert prelude["statusCode"] == 200
        assert body.count(b"data: token") == 3
        assert invocation.trailers == {}
        echoed(invocation, emulator)


def test_stream_ending_with_error_trailers_echoes_the_invocation_id() -> None:
    with runtime([*OURS, ASGI], STREAMING) as emulator:
        invocation = emulator.invoke(url_event("/fail-after"))
        prelude, body = split_stream(invocation)
        assert (prelude["statusCode"], body) == (200, b"partial ")
        assert invocation.trailers["Lambda-Runtime-Function-Error-Type"] == "RuntimeError"
        echoed(invocation, emulator)


@pytest.mark.parametrize("env", [{}, STREAMING], ids=["buffered", "streamed"])
def test_concurrent_invocations_each_echo_their_own_id_in_lmi_loop_mode(
    env: dict[str, str],
) -> None:
    with our_lmi(CONCURRENT, {**env, "MANGUM_LIKE_CONCURRENCY": "loop"}, concurrency=4) as emu:
        invocations = emu.invoke_all([url_event("/sleep", "ms=200") for _ in range(8)])
        for invocation in invocations:
            assert answer(invocation)[0] == 200, emu.output
            echoed(invocation, emu)
        assert len({invocation.invocation_id for invocation in invocations}) == 8
        assert emu.peak_in_flight > 1  # they were in flight at once


# -- 410 Gone --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["buffered", "error", "streamed"])
def test_our_runtime_survives_a_410_with_one_warning(kind: str) -> None:
    event, env = events_of(kind)
    target = PLAIN if kind == "error" else ASGI
    with runtime([*OURS, target], env) as emulator:
        stale = emulator.invoke(event, gone=True)
        assert stale.kind == "gone", emulator.output
        assert stale.posted == ("error" if kind == "error" else "response")
        assert stale.answered_at is not None
        emulator.next_request_after(stale.answered_at, 5.0)
        assert_one_gone_warning(emulator, stale)
        fresh = emulator.invoke(event)
        assert fresh.kind == ("error" if kind == "error" else "response"), emulator.output
        assert fresh.status == 202
        echoed(fresh, emulator)
        # One warning still, for the one refused post.
        assert len(gone_lines(emulator, stale.request_id)) == 1


def test_our_runtime_survives_a_410_in_lmi_loop_mode() -> None:
    with our_lmi(CONCURRENT, {"MANGUM_LIKE_CONCURRENCY": "loop"}, concurrency=4) as emulator:
        stale = emulator.submit(url_event("/sleep", "ms=100"), gone=True)
        others = [emulator.submit(url_event("/sleep", "ms=100")) for _ in range(3)]
        for invocation in [stale, *others]:
            emulator.wait(invocation)
        assert stale.kind == "gone", emulator.output
        assert [answer(invocation)[0] for invocation in others] == [200] * 3
        assert_one_gone_warning(emulator, stale)
        again = emulator.invoke_all([url_event("/sleep", "ms=0") for _ in range(4)])
        assert [answer(invocation)[0] for invocation in again] == [200] * 4
        for invocation in again:
            echoed(invocation, emulator)


def test_official_client_exits_after_a_410_on_demand() -> None:
    """What the README says of the official client: in the on-demand mode, awslambdaric 4.2.2
    re-raises a refused post ("Failed to post invocation response") and the runtime process ends
    (Lambda then starts a fresh environment); python -m mangum_like.runtime goes on instead."""
    with runtime([*RIC, PLAIN]) as emulator:
        stale = emulator.invoke({"n": 1}, gone=True)
        assert stale.kind == "gone", emulator.output
        process = emulator.process
        assert process is not None
        assert process.wait(timeout=10) != 0
        assert "410" in emulator.output


def test_official_client_goes_on_after_a_410_on_managed_instances() -> None:
    with ric_lmi(PLAIN) as emulator:
        stale = emulator.invoke({"n": 1}, gone=True)
        assert stale.kind == "gone", emulator.output
        echoed(stale, emulator)  # what it posted carried the id, refused or not
        assert stale.answered_at is not None
        # The other workers were waiting in invocation/next already: a call after the 410 is
        # the refused worker's, back for more.
        emulator.next_request_after(stale.answered_at, 5.0)
        again = emulator.invoke_all([{"n": n} for n in range(2, 10)])
        for invocation in again:
            assert invocation.kind == "response", emulator.output
            echoed(invocation, emulator)
        assert "Http response code: 410" in emulator.output
