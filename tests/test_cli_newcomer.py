"""The CLI as a newcomer meets it, each behaviour in a subprocess: Ctrl-C and SIGTERM as in
uvicorn, --log-level, a failed startup reported once, --version, bad ports, file paths given as
import strings, --backend on a handler, and the runtime loop run off Lambda."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from .serve_process import ROOT, serve_process

CLI = [sys.executable, "-m", "mangum_like"]
ENV = dict(os.environ)


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout
    )


def slow_request(port: int) -> threading.Thread:
    """GET /slow in the background; the connection is simply left when the server goes."""

    def request() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/slow")
            connection.getresponse().read()
        except OSError:
            pass  # the server stopped at once
        finally:
            connection.close()

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    return thread


def wait_for(process: subprocess.Popen[str], seconds: float) -> int | None:
    try:
        return process.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return None


class TestSignals:
    def test_second_ctrl_c_stops_at_once_with_130(self) -> None:
        args = [*CLI, "serve", "tests.polish_apps:app", "--port", "0"]
        with serve_process(args, env=ENV, stop_signal=signal.SIGINT) as served:
            client = slow_request(served.port)
            time.sleep(0.5)  # the request is in flight
            served.process.send_signal(signal.SIGINT)
            time.sleep(0.5)
            assert served.process.poll() is None  # still waiting for the request
            served.process.send_signal(signal.SIGINT)
            second = time.monotonic()
            status = wait_for(served.process, 5)
            took = time.monotonic() - second
            stderr = served.process.stderr.read() if served.process.stderr else ""
        client.join(5)
        assert status == 130, stderr
        assert took < 1.0
        lines = stderr.splitlines()
        waiting = [line for line in lines if line.startswith("Shutting down:")]
        assert len(waiting) == 1
        assert "waiting for GET /slow to finish" in waiting[0]
        assert "Ctrl-C again to stop at once" in waiting[0]
        assert "Stopping at once: the app's lifespan shutdown is skipped" in lines

    def test_one_ctrl_c_waits_for_the_request_then_shuts_down(self) -> None:
        args = [*CLI, "serve", "tests.polish_apps:app", "--port", "0"]
        with serve_process(args, env=ENV, stop_signal=signal.SIGINT, stop_seconds=5) as served:
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            connection.request("GET", "/fast")
            assert connection.getresponse().read() == b"done"
            connection.close()
        assert served.status == 0, served.stderr
        # The client has its answer as soon as the response is complete; the app may still be
        # returning when Ctrl-C comes, and then the line names it too.
        shutting = [line for line in served.stderr.splitlines() if "Shutting down:" in line]
        assert len(shutting) == 1, served.stderr
        assert re.search(
            r"Shutting down: (waiting for GET /fast to finish, then )?the app's lifespan shutdown",
            shutting[0],
        ), served.stderr
        assert "Stopped; the app's lifespan has shut down" in served.stderr

    def test_sigterm_is_bounded_by_the_grace_period(self) -> None:
        args = [
            *CLI, "serve", "tests.polish_apps:app", "--port", "0", "--shutdown-grace", "0.5"
        ]  # fmt: skip
        with serve_process(args, env=ENV, stop_signal=signal.SIGTERM) as served:
            client = slow_request(served.port)
            time.sleep(0.5)
            served.process.send_signal(signal.SIGTERM)
            sent = time.monotonic()
            status = wait_for(served.process, 5)
            took = time.monotonic() - sent
            stderr = served.process.stderr.read() if served.process.stderr else ""
        client.join(5)
        assert status == 128 + signal.SIGTERM, stderr
        assert 0.4 < took < 2.0
        assert "waiting for GET /slow to finish" in stderr
        assert "Stopping at once: the 0.5 s grace period after SIGTERM is over" in stderr


class TestLogLevel:
    def test_serve_shows_the_apps_info_lines_by_default(self) -> None:
        args = [*CLI, "serve", "tests.polish_apps:app", "--port", "0"]
        with serve_process(args, env=ENV) as served:
            pass
        assert "INFO polish_apps: the pool is connected" in served.stderr

    def test_serve_log_level_warning_hides_them(self) -> None:
        args = [*CLI, "serve", "tests.polish_apps:app", "--port", "0", "--log-level", "warning"]
        with serve_process(args, env=ENV) as served:
            pass
        assert "the pool is connected" not in served.stderr

    def test_invoke_is_quiet_unless_asked(self) -> None:
        quiet = cli("invoke", "tests.polish_apps:app")
        told = cli("invoke", "tests.polish_apps:app", "--log-level", "info")
        assert (quiet.returncode, told.returncode) == (0, 0)
        assert "the pool is connected" not in quiet.stderr
        assert "INFO polish_apps: the pool is connected" in told.stderr
        # The handler's access line, on mangum_like.http, shows at INFO under invoke.
        assert "INFO mangum_like.http: GET / 200" in told.stderr


def test_a_failed_startup_is_reported_once() -> None:
    for command in (["serve", "--port", "0"], ["invoke"]):
        done = cli(*command, "tests.polish_apps:failing")
        assert done.returncode == 1
        assert done.stderr.count("Traceback (most recent call last)") == 1, done.stderr
        assert done.stderr.count("RuntimeError: cannot reach the database") == 2  # tb, Error
        errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
        assert errors == [
            "Error: the app's lifespan startup failed (RuntimeError: cannot reach the database)"
        ]
        assert "the next invocation tries again" not in done.stderr


def test_version() -> None:
    from mangum_like import __version__

    done = cli("--version")
    assert (done.returncode, done.stdout) == (0, f"mangum-like {__version__}\n")


def test_a_port_out_of_range_is_a_usage_error() -> None:
    done = cli("serve", "tests.polish_apps:app", "--port", "70000")
    assert done.returncode == 2
    assert "argument --port: expected a port from 0 to 65535, got '70000'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_file_path_gets_the_import_string(tmp_path: Path) -> None:
    for given, meant in (
        ("app.py:app", "app:app"),
        ("./src/app.py:api", "src.app:api"),
        ("src/app.py", "src.app:app"),
    ):
        done = cli("invoke", given)
        assert done.returncode == 2
        assert done.stderr == (
            f"Error: {given!r} names a file; an import string names a module: "
            f"did you mean {meant!r}?\n"
        )


def test_backend_on_a_mangum_handler_says_where_it_goes() -> None:
    done = cli("invoke", "tests.polish_apps:handler", "--backend", "trio")
    assert done.returncode == 2
    assert "--backend applies to an ASGI app" in done.stderr
    assert "Mangum(app, api_gateway_base_path=..., backend=...)" in done.stderr
    assert "(MODULE:app)" in done.stderr


def test_the_runtime_loop_off_lambda_points_to_serve_and_invoke() -> None:
    env = {k: v for k, v in ENV.items() if k != "AWS_LAMBDA_RUNTIME_API"}
    done = subprocess.run(
        [sys.executable, "-m", "mangum_like.runtime", "tests.polish_apps:handler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "mangum-like serve tests.polish_apps:handler" in done.stderr
    assert "mangum-like invoke tests.polish_apps:handler" in done.stderr


def test_a_request_that_blocks_the_loop_is_named() -> None:
    args = [*CLI, "serve", "tests.polish_apps:app", "--port", "0"]
    with serve_process(args, env=ENV) as served:
        for path in ("/waiting", "/blocking"):
            connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
            connection.request("GET", path)
            assert connection.getresponse().read() == b"done"
            connection.close()
    warnings = [line for line in served.stderr.splitlines() if "blocked the event loop" in line]
    assert len(warnings) == 1, served.stderr
    assert " GET /blocking blocked the event loop for " in warnings[0]
    seconds = float(warnings[0].split("for ")[1].split(" s:")[0])
    assert 0.5 <= seconds <= 1.0
