"""The Starlette, Django, Quart and Litestar examples through their handlers, on real events.

Each app greets with a word set at startup, counts visits in a cookie and echoes a JSON body.
Starlette and Litestar run on asyncio and trio (both are built on anyio); Django and Quart are
built on asyncio, so they run on asyncio only.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mangum_like import Mangum

from .example_events import SOURCES, http_api, read
from .helpers import Context

MakeHandler = Callable[..., Mangum]
ROOT = Path(__file__).resolve().parent.parent

# framework: (module, the ASGI app's name in it, backends)
EXAMPLES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "starlette": ("examples.starlette_basic.app", "app", ("asyncio", "trio")),
    "litestar": ("examples.litestar_app.app", "app", ("asyncio", "trio")),
    "quart": ("examples.quart_app.app", "app", ("asyncio",)),
    "django": ("examples.django_app.asgi", "application", ("asyncio",)),
}
RUNS = [
    pytest.param((framework, backend), id=f"{framework}-{backend}")
    for framework, (_, _, backends) in EXAMPLES.items()
    for backend in backends
]


def app_of(framework: str) -> Any:
    module, name, _ = EXAMPLES[framework]
    return getattr(importlib.import_module(module), name)


@pytest.fixture(params=RUNS)
def serve(
    request: pytest.FixtureRequest, make_handler: MakeHandler
) -> Callable[[dict[str, Any]], Any]:
    framework, backend = request.param
    handler = make_handler(app_of(framework), backend=backend)

    def call(event: dict[str, Any]) -> Any:
        return read(handler(event, Context()))

    return call


@pytest.mark.parametrize("source", SOURCES)
def test_hello_uses_startup_state_and_a_cookie(source: str, serve: Callable[..., Any]) -> None:
    event = SOURCES[source]("GET", "/hello/lambda", cookies=["theme=dark", "visits=2"])
    result = serve(event)
    assert result.status == 200
    assert result.headers["content-type"].startswith("application/json")
    assert result.json() == {"message": "Hello, lambda!", "visits": 3}
    (cookie,) = result.cookies
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert attributes[0] == "visits=3"
    assert "httponly" in attributes


@pytest.mark.parametrize("source", SOURCES)
def test_echo_answers_the_json_body(source: str, serve: Callable[..., Any]) -> None:
    sent = {"name": "Zoë", "tags": ["a", "b"], "count": 2, "nested": {"ok": True}}
    result = serve(SOURCES[source]("POST", "/echo", json=sent))
    assert (result.status, result.json()) == (200, {"received": sent})
    assert result.cookies == []


def test_echo_rejects_a_body_that_is_not_json(serve: Callable[..., Any]) -> None:
    headers = {"content-type": "application/json"}
    assert serve(http_api("POST", "/echo", body="{not json", headers=headers)).status == 400


def test_unknown_path_is_404(serve: Callable[..., Any]) -> None:
    assert serve(http_api("GET", "/nowhere")).status == 404


def test_first_visit_sets_the_cookie(serve: Callable[..., Any]) -> None:
    result = serve(http_api("GET", "/hello/you"))
    assert result.json() == {"message": "Hello, you!", "visits": 1}
    assert result.cookies[0].lower().startswith("visits=1;")


@pytest.mark.parametrize("framework", EXAMPLES)
def test_module_level_handler(framework: str) -> None:
    module, name, _ = EXAMPLES[framework]
    loaded = importlib.import_module(module)
    handler = loaded.handler
    assert isinstance(handler, Mangum)
    assert handler.app is getattr(loaded, name)
    try:
        result = read(handler(http_api("GET", "/hello/module"), Context()))
        assert result.json()["message"] == "Hello, module!"
    finally:
        handler.shutdown()


def test_django_is_served_without_lifespan_after_one_info_line(
    make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mangum_like")
    handler = make_handler(app_of("django"))
    for _ in range(3):
        assert read(handler(http_api("GET", "/hello/django"), Context())).status == 200
    notes = [
        record
        for record in caplog.records
        if "does not support the ASGI lifespan protocol" in record.getMessage()
    ]
    assert len(notes) == 1
    assert (notes[0].name, notes[0].levelno) == ("mangum_like", logging.INFO)
    assert not [record for record in caplog.records if record.levelno >= logging.WARNING]


@pytest.mark.parametrize("framework", EXAMPLES)
def test_examples_leave_the_root_logger_to_lambda(
    framework: str, make_handler: MakeHandler
) -> None:
    """Lambda's runtime owns the root logger (CloudWatch): an example must not reconfigure it."""
    root = logging.getLogger()
    before = (root.level, list(root.handlers))
    handler = make_handler(app_of(framework))
    assert read(handler(http_api("GET", "/hello/logs"), Context())).status == 200
    assert (root.level, list(root.handlers)) == before


# Run in a fresh interpreter: Django loads its settings once per process, and a time zone change
# there would leak into every later test of this one.
TIME_ZONE_PROBE = """
import json, os, time
before = [os.environ.get("TZ"), list(time.tzname)]
from examples.django_app.asgi import handler
from tests.example_events import http_api, read
from tests.helpers import Context
result = read(handler(http_api("GET", "/hello/zone"), Context()))
handler.shutdown()
after = [os.environ.get("TZ"), list(time.tzname)]
print(json.dumps({"before": before, "after": after, "served": result.json()}))
"""


@pytest.mark.parametrize(
    ("tz", "tzname"),
    [
        (None, ["UTC", "UTC"]),  # Lambda's own zone (and the container's here), TZ unset
        ("CET-1CEST,M3.5.0,M10.5.0/3", ["CET", "CEST"]),  # a developer's local zone, POSIX form
    ],
)
def test_django_example_leaves_the_process_time_zone_alone(
    tz: str | None, tzname: list[str]
) -> None:
    """Setting up the Django example keeps os.environ["TZ"] and time.tzname as they were.

    Django's settings loader sets TZ and calls time.tzset() for any TIME_ZONE name, which would
    shift the time stamps of every other log line in the process.
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("TZ", "DJANGO_SETTINGS_MODULE")
    }
    if tz is not None:
        env["TZ"] = tz
    probe = subprocess.run(
        [sys.executable, "-c", TIME_ZONE_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    assert report["served"] == {"message": "Hello, zone!", "visits": 1}
    assert report["before"] == [tz, tzname]
    assert report["after"] == report["before"]
