"""The flagship example: FastAPI items on DynamoDB, through its Lambda handler on real events.

DynamoDB is moto's: ``mock_aws`` for the deployed code path (the function's environment names the
table, as template.yaml does), and the embedded moto server for local mode.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

from examples.fastapi_dynamodb import app as items_app
from examples.fastapi_dynamodb import dynamodb
from mangum_like import Mangum

from .example_events import SOURCES, Result, function_url, http_api, read, rest
from .helpers import Context
from .test_deploy_sam import run, tool

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table

MakeHandler = Callable[..., Mangum]
ROOT = Path(__file__).resolve().parent.parent
TABLE = "items-test"
AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_LAMBDA_FUNCTION_NAME",
    dynamodb.EMBEDDED_VARIABLE,
    dynamodb.TABLE_NAME_VARIABLE,
)


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment Lambda gives the deployed function (credentials are moto's)."""
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "items")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv(dynamodb.TABLE_NAME_VARIABLE, TABLE)


@pytest.fixture
def table(lambda_env: None) -> Iterator[Table]:
    with mock_aws():
        yield dynamodb.create_table(boto3.resource("dynamodb"), TABLE)


@pytest.fixture
def invoke(table: Table, backend: str, make_handler: MakeHandler) -> Callable[..., Result]:
    handler = make_handler(items_app.app, backend=backend)

    def call(event: dict[str, Any]) -> Result:
        return read(handler(event, Context()))

    return call


@pytest.mark.parametrize("source", SOURCES)
def test_crud_cycle(source: str, invoke: Callable[..., Result], table: Table) -> None:
    build = SOURCES[source]

    created = invoke(build("POST", "/items", json={"name": "apple", "quantity": 3}))
    assert created.status == 201
    item = created.json()
    item_id = item["id"]
    assert item == {"id": item_id, "name": "apple", "quantity": 3, "tags": []}
    # Location is a URL the client can follow: the REST stage prefix included.
    prefix = "/Prod" if source == "rest-api" else ""
    assert created.headers["location"].endswith(f"{prefix}/items/{item_id}")
    assert created.headers["location"].startswith("https://")
    assert table.get_item(Key={"id": item_id})["Item"] == {
        "id": item_id,
        "name": "apple",
        "quantity": 3,
        "tags": [],
    }

    fetched = invoke(build("GET", f"/items/{item_id}"))
    assert (fetched.status, fetched.json()) == (200, item)

    patched = invoke(build("PATCH", f"/items/{item_id}", json={"quantity": 5, "tags": ["red"]}))
    assert (patched.status, patched.json()) == (200, {**item, "quantity": 5, "tags": ["red"]})
    unchanged = invoke(build("PATCH", f"/items/{item_id}", json={}))
    assert (unchanged.status, unchanged.json()) == (200, {**item, "quantity": 5, "tags": ["red"]})

    listed = invoke(build("GET", "/items"))
    assert listed.status == 200
    assert listed.json() == {"items": [patched.json()], "next_cursor": None}

    deleted = invoke(build("DELETE", f"/items/{item_id}"))
    assert (deleted.status, deleted.body) == (204, b"")
    assert "Item" not in table.get_item(Key={"id": item_id})

    for method, body in (("GET", None), ("PATCH", {"name": "pear"}), ("DELETE", None)):
        missing = invoke(build(method, f"/items/{item_id}", json=body))
        assert (missing.status, missing.json()) == (404, {"detail": f"no item with id {item_id!r}"})


def test_invalid_requests_answer_422(invoke: Callable[..., Result], table: Table) -> None:
    assert invoke(http_api("POST", "/items", json={"name": ""})).status == 422
    assert invoke(http_api("POST", "/items", json={"name": "x", "quantity": -1})).status == 422
    assert invoke(http_api("POST", "/items", body="not json")).status == 422
    assert invoke(http_api("GET", "/items", query="limit=0")).status == 422
    assert table.scan()["Items"] == []


def test_list_pages_through_every_item(invoke: Callable[..., Result]) -> None:
    made = {
        invoke(http_api("POST", "/items", json={"name": f"item {n}"})).json()["id"]
        for n in range(5)
    }
    seen: list[str] = []
    query = "limit=2"
    for _ in range(10):  # bounded: 5 items in pages of 2 need 3 or 4 pages
        page = invoke(rest("GET", "/items", query=query)).json()
        assert len(page["items"]) <= 2
        seen.extend(item["id"] for item in page["items"])
        if page["next_cursor"] is None:
            break
        query = f"limit=2&cursor={page['next_cursor']}"
    assert sorted(seen) == sorted(made)


def test_lifespan_creates_one_table_resource_per_environment(
    table: Table, backend: str, make_handler: MakeHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[object] = []
    resource = boto3.resource

    def counting_resource(*args: Any, **kwargs: Any) -> Any:
        made.append(args)
        return resource(*args, **kwargs)

    monkeypatch.setattr(boto3, "resource", counting_resource)
    handler = make_handler(items_app.app, backend=backend)
    for n in range(3):
        result = read(handler(http_api("POST", "/items", json={"name": f"n{n}"}), Context()))
        assert result.status == 201
    assert read(handler(http_api("GET", "/items"), Context())).status == 200
    assert made == [("dynamodb",)]
    assert len(table.scan()["Items"]) == 3


def test_module_level_handler_is_the_lambda_entry_point(table: Table) -> None:
    handler = items_app.handler
    assert isinstance(handler, Mangum)
    try:
        created = read(handler(http_api("POST", "/items", json={"name": "kiwi"}), Context()))
        assert created.status == 201
        got = read(handler(http_api("GET", f"/items/{created.json()['id']}"), Context()))
        assert got.json()["name"] == "kiwi"
    finally:
        handler.shutdown()


# -- where the table lives --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "embedded"),
    [
        ({}, True),
        ({"AWS_LAMBDA_FUNCTION_NAME": "items"}, False),
        ({"AWS_ENDPOINT_URL": "http://127.0.0.1:8001"}, False),
        ({"AWS_ENDPOINT_URL_DYNAMODB": "http://127.0.0.1:8001"}, False),
        ({"ITEMS_EMBEDDED_DYNAMODB": "1", "AWS_LAMBDA_FUNCTION_NAME": "items"}, True),
        ({"ITEMS_EMBEDDED_DYNAMODB": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"}, True),
        ({"ITEMS_EMBEDDED_DYNAMODB": "0"}, False),
        ({"ITEMS_EMBEDDED_DYNAMODB": " Off "}, False),
        ({"AWS_LAMBDA_FUNCTION_NAME": ""}, True),
    ],
)
def test_embedded_rule(environ: dict[str, str], embedded: bool) -> None:
    assert dynamodb.embedded_wanted(environ) is embedded


def test_embedded_rule_rejects_other_values() -> None:
    with pytest.raises(ValueError, match="ITEMS_EMBEDDED_DYNAMODB must be 1 or 0"):
        dynamodb.embedded_wanted({"ITEMS_EMBEDDED_DYNAMODB": "maybe"})


@pytest.fixture
def local_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's machine: no Lambda, no endpoint, no credentials."""
    for name in (*AWS_VARIABLES, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_local_mode_starts_an_embedded_dynamodb(
    local_env: None, backend: str, make_handler: MakeHandler, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="examples.fastapi_dynamodb")
    handler = make_handler(items_app.app, backend=backend)
    handler.startup()
    (message,) = [r.getMessage() for r in caplog.records if "embedded DynamoDB" in r.getMessage()]
    found = re.search(r"at (http://127\.0\.0\.1:(\d+)) with table 'items'", message)
    assert found is not None, message
    endpoint, port = found.group(1), int(found.group(2))

    created = read(handler(function_url("POST", "/items", json={"name": "plum"}), Context()))
    assert created.status == 201
    item_id = created.json()["id"]
    # A second request sees the first one's write: the table persists across invocations.
    got = read(handler(function_url("GET", f"/items/{item_id}"), Context()))
    assert (got.status, got.json()["name"]) == (200, "plum")
    # And the item is in a real DynamoDB endpoint on 127.0.0.1, not in the app's memory.
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    stored = client.get_item(TableName="items", Key={"id": {"S": item_id}})
    assert stored["Item"]["name"] == {"S": "plum"}

    handler.shutdown()
    assert not _port_open(port)


def test_local_server_over_real_http(local_env: None) -> None:
    """``python -m examples.fastapi_dynamodb`` serves the app with no AWS account."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.pop(dynamodb.EMBEDDED_VARIABLE, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.fastapi_dynamodb", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        # The server prints its address once it listens (bounded: a hung start fails the test).
        ready, _, _ = select.select([process.stdout], [], [], 60)
        assert ready, "the server did not start within 60 s"
        line = process.stdout.readline()
        found = re.fullmatch(r"Serving on http://127\.0\.0\.1:(\d+)\n", line)
        assert found is not None, (line, process.stderr.read() if process.stderr else "")
        port = int(found.group(1))

        def request(method: str, path: str, body: Any = None) -> tuple[int, Any]:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                payload = None if body is None else json.dumps(body)
                headers = {} if body is None else {"content-type": "application/json"}
                connection.request(method, path, payload, headers)
                response = connection.getresponse()
                data = response.read()
                return response.status, json.loads(data) if data else None
            finally:
                connection.close()

        status, created = request("POST", "/items", {"name": "fig", "quantity": 2})
        assert status == 201
        assert request("GET", f"/items/{created['id']}") == (200, created)
        assert request("GET", "/items") == (200, {"items": [created], "next_cursor": None})
        assert request("DELETE", f"/items/{created['id']}") == (204, None)
        assert request("GET", "/items")[1] == {"items": [], "next_cursor": None}
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, stderr
    assert "Local mode: embedded DynamoDB (moto)" in stderr


def test_events_from_sam_generate_event(invoke: Callable[..., Result]) -> None:
    """The GET events the README's `sam local invoke` recipe generates are served."""

    def generated(path: str) -> dict[str, Any]:
        options = ["--method", "GET", "--path", path]
        command = ["local", "generate-event", "apigateway", "http-api-proxy", *options]
        result = run(tool("sam"), *command)
        assert result.returncode == 0, result.stderr
        event: dict[str, Any] = json.loads(result.stdout)
        return event

    item = invoke(http_api("POST", "/items", json={"name": "apple"})).json()
    listed = invoke(generated("items"))
    assert (listed.status, listed.json()) == (200, {"items": [item], "next_cursor": None})
    fetched = invoke(generated(f"items/{item['id']}"))
    assert (fetched.status, fetched.json()) == (200, item)
