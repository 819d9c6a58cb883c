"""The flagship example: FastAPI items on DynamoDB, through its Lambda handler on real events.

DynamoDB is moto's: ``mock_aws`` for the deployed code path (the function's environment names the
table, as template.yaml does), and the embedded moto server for local mode.
"""

from __future__ import annotations

import json
import logging
import re
import socket
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


# -- items DynamoDB cannot store ---------------------------------------------------------------

# POST /items with {"name": "big", "tags": [tag]} writes every byte below besides the tag's, by
# DynamoDB's item size rule: the attribute names id, name, quantity and tags (2 + 4 + 8 + 4), the
# 32-character id, "big" (3), quantity 0 (1 byte), the list (3) and its one element (1).
FIXED_BYTES = 2 + 4 + 8 + 4 + 32 + 3 + 1 + 3 + 1
LIMIT = 400_000
# "é" is 2 bytes in UTF-8: this tag brings the item to exactly LIMIT bytes with half as many
# characters, so the app must count bytes, not characters.
AT_LIMIT_TAG = "é" * ((LIMIT - FIXED_BYTES) // 2)
TOO_LARGE_FROM_DYNAMODB = {"detail": "the item exceeds DynamoDB's maximum item size (400 KB)"}


def test_an_item_over_the_size_limit_answers_422(
    invoke: Callable[..., Result], table: Table
) -> None:
    assert FIXED_BYTES + len(AT_LIMIT_TAG.encode()) == LIMIT
    result = invoke(http_api("POST", "/items", json={"name": "big", "tags": [AT_LIMIT_TAG + "x"]}))
    detail = (
        "the item is 400001 bytes by DynamoDB's item size rule (attribute names and values, "
        "UTF-8); the limit is 400000 bytes"
    )
    body = b'{"detail":"' + detail.encode() + b'"}'
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    assert (result.status, result.headers, result.cookies, result.body) == (422, headers, [], body)
    assert table.scan()["Items"] == []


def test_an_item_at_the_size_limit_is_stored(invoke: Callable[..., Result], table: Table) -> None:
    created = invoke(http_api("POST", "/items", json={"name": "big", "tags": [AT_LIMIT_TAG]}))
    assert created.status == 201
    item = created.json()
    assert item == {"id": item["id"], "name": "big", "quantity": 0, "tags": [AT_LIMIT_TAG]}
    assert table.get_item(Key={"id": item["id"]})["Item"] == item
    fetched = invoke(http_api("GET", f"/items/{item['id']}"))
    assert (fetched.status, fetched.json()) == (200, item)


def test_a_patch_dynamodb_refuses_as_too_large_answers_422(
    invoke: Callable[..., Result], table: Table
) -> None:
    """The app does not read an item before a PATCH: DynamoDB's own refusal becomes the 422."""
    item = invoke(http_api("POST", "/items", json={"name": "big", "tags": [AT_LIMIT_TAG]})).json()
    # 12,001 bytes more: over 400 KB however "KB" is read (409,600 bytes at most).
    grown = {"tags": [AT_LIMIT_TAG, "x" * 12_000]}
    result = invoke(http_api("PATCH", f"/items/{item['id']}", json=grown))
    assert (result.status, result.json()) == (422, TOO_LARGE_FROM_DYNAMODB)
    assert table.get_item(Key={"id": item["id"]})["Item"] == item


def test_a_put_dynamodb_refuses_as_too_large_answers_422(
    invoke: Callable[..., Result], table: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should the app's own count ever let an item through, DynamoDB's refusal is still a 422."""
    monkeypatch.setattr(items_app, "MAX_ITEM_BYTES", 1_000_000)
    result = invoke(http_api("POST", "/items", json={"name": "big", "tags": ["x" * 412_000]}))
    assert (result.status, result.json()) == (422, TOO_LARGE_FROM_DYNAMODB)
    assert table.scan()["Items"] == []


@pytest.mark.parametrize(
    ("record", "size"),
    [
        ({"name": "apple"}, 4 + 5),
        ({"name": "Zoë"}, 4 + 4),  # ë is 2 bytes in UTF-8
        ({"quantity": 0}, 8 + 1),
        ({"quantity": 7}, 8 + 1 + 1),
        ({"quantity": 42}, 8 + 1 + 1),
        ({"quantity": 123}, 8 + 2 + 1),
        ({"quantity": 1200}, 8 + 1 + 1),  # trailing zeros are not significant
        ({"quantity": 10**38 - 1}, 8 + 19 + 1),
        ({"tags": []}, 4 + 3),
        ({"tags": ["a", "bc"]}, 4 + 3 + (1 + 1) + (1 + 2)),
        ({"id": "0" * 32, "name": "apple", "quantity": 3, "tags": ["red"]}, 34 + 9 + 10 + 11),
    ],
)
def test_item_size_follows_dynamodb_rule(record: dict[str, Any], size: int) -> None:
    assert items_app.item_size(record) == size


def test_item_size_refuses_a_type_it_has_no_rule_for() -> None:
    with pytest.raises(TypeError, match="no DynamoDB size rule for float"):
        items_app.item_size({"price": 1.5})


def test_quantity_beyond_dynamodb_numbers_answers_422(
    invoke: Callable[..., Result], table: Table
) -> None:
    """DynamoDB numbers hold 38 significant digits; boto3 refuses to send more."""
    largest = 10**38 - 1
    created = invoke(http_api("POST", "/items", json={"name": "many", "quantity": largest}))
    assert (created.status, created.json()["quantity"]) == (201, largest)
    assert table.get_item(Key={"id": created.json()["id"]})["Item"]["quantity"] == largest
    for body in ({"name": "more", "quantity": largest + 1}, {"name": "more", "quantity": 10**40}):
        refused = invoke(http_api("POST", "/items", json=body))
        assert refused.status == 422
        assert [error["loc"] for error in refused.json()["detail"]] == [["body", "quantity"]]
    patched = invoke(http_api("PATCH", f"/items/{created.json()['id']}", json={"quantity": 10**40}))
    assert patched.status == 422
    assert len(table.scan()["Items"]) == 1


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
