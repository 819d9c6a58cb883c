"""A FastAPI CRUD service for items stored in DynamoDB, deployed as one Lambda function.

The lifespan creates ONE boto3 ``Table`` resource per execution environment and keeps it in the
lifespan state, so every invocation the environment serves reuses its connection pool
(``request.state.table``). Lambda's handler setting is ``examples.fastapi_dynamodb.app.handler``.

Routes: ``POST /items`` (201), ``GET /items`` (paginated), ``GET /items/{id}``,
``PATCH /items/{id}``, ``DELETE /items/{id}`` (204); an unknown id answers 404, and an item
DynamoDB cannot store (over its 400 KB item size limit) answers 422, never 500.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from botocore.exceptions import ClientError
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, Field

from examples.fastapi_dynamodb.dynamodb import items_table
from mangum_like import Mangum

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table
else:
    # The stubs are a development dependency, absent from the Lambda package; FastAPI only
    # needs a class here, since the value comes from the dependency below.
    Table = object


class State(TypedDict):
    table: Table


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    with items_table() as table:
        yield {"table": table}


app = FastAPI(title="Items (mangum_like example)", lifespan=lifespan)


def get_table(request: Request) -> Table:
    table: Table = request.state.table
    return table


TableDep = Annotated[Table, Depends(get_table)]


# DynamoDB numbers hold at most 38 significant digits, and boto3 refuses to send an integer
# with more digits than that: a larger quantity is an invalid body (422), not a failed write.
MAX_QUANTITY = 10**38 - 1


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=0, ge=0, le=MAX_QUANTITY)
    tags: list[str] = Field(default_factory=list, max_length=20)


class ItemPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    quantity: int | None = Field(default=None, ge=0, le=MAX_QUANTITY)
    tags: list[str] | None = Field(default=None, max_length=20)


class Item(ItemIn):
    id: str


class ItemPage(BaseModel):
    items: list[Item]
    next_cursor: str | None = None


def _item(record: dict[str, Any]) -> Item:
    # DynamoDB gives numbers back as Decimal.
    quantity = record.get("quantity", 0)
    return Item(
        id=str(record["id"]),
        name=str(record["name"]),
        quantity=int(quantity) if isinstance(quantity, Decimal) else 0,
        tags=[str(tag) for tag in record.get("tags", [])],
    )


def _not_found(item_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no item with id {item_id!r}")


def _condition_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# -- item size ----------------------------------------------------------------------------------
#
# DynamoDB refuses an item over 400 KB. Its documented rule ("Item sizes and formats" in the
# DynamoDB Developer Guide) counts, for every attribute, the UTF-8 bytes of its name plus the size
# of its value: a string is its UTF-8 bytes; a number about 1 byte per two significant digits
# plus 1; a list 3 bytes plus, per element, 1 byte and the element's size. ``POST /items`` counts
# the item it is about to write by this rule and refuses it with 422 above MAX_ITEM_BYTES:
# 400,000 bytes, the lower reading of "400 KB", so an item this app accepts fits whatever the
# exact figure (the number rule is approximate: at most 20 bytes for a 38-digit quantity).
# DynamoDB checks every write itself too, and the app answers 422 as well when it refuses one as
# too large: that covers a PATCH that grows an item past the limit (the app does not read the item
# beforehand).

MAX_ITEM_BYTES = 400_000
TOO_LARGE_FROM_DYNAMODB = "the item exceeds DynamoDB's maximum item size (400 KB)"


def item_size(record: dict[str, Any]) -> int:
    """The item's size in bytes by DynamoDB's rule above: attribute names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in record.items())


def _value_size(value: object) -> int:
    # The types this app stores (Item's fields); another type must be added here first.
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, int) and not isinstance(value, bool):
        digits = len(str(abs(value)).strip("0"))  # significant digits: zeros at either end trimmed
        return (digits + 1) // 2 + 1
    if isinstance(value, list):
        return 3 + sum(1 + _value_size(element) for element in value)
    raise TypeError(f"no DynamoDB size rule for {type(value).__name__} in this app")


def _too_large(size: int) -> HTTPException:
    # 422 as a number: its name in ``status`` differs between the Starlette versions FastAPI uses.
    return HTTPException(
        422,
        f"the item is {size} bytes by DynamoDB's item size rule (attribute names and values, "
        f"UTF-8); the limit is {MAX_ITEM_BYTES} bytes",
    )


def _refused_as_too_large(exc: ClientError) -> bool:
    """Whether DynamoDB refused a write because the item would exceed its maximum size."""
    error = exc.response.get("Error", {})
    return error.get("Code") == "ValidationException" and (
        "exceeded the maximum allowed size" in error.get("Message", "")
    )


# The routes are ``async def`` and call boto3 directly: a Lambda environment serves one request
# at a time, so a blocking call holds up nobody, and every use of the Table resource stays on the
# loop's thread (boto3 resources must not be shared between threads).


@app.post("/items", status_code=status.HTTP_201_CREATED)
async def create_item(item: ItemIn, table: TableDep, request: Request, response: Response) -> Item:
    created = Item(id=uuid.uuid4().hex, **item.model_dump())
    record = created.model_dump()
    size = item_size(record)
    if size > MAX_ITEM_BYTES:
        raise _too_large(size)
    try:
        table.put_item(Item=record)
    except ClientError as exc:
        if _refused_as_too_large(exc):
            raise HTTPException(422, TOO_LARGE_FROM_DYNAMODB) from exc
        raise
    response.headers["location"] = str(request.url_for("get_item", item_id=created.id))
    return created


@app.get("/items")
async def list_items(
    table: TableDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> ItemPage:
    """One page of items (DynamoDB Scan order); pass ``next_cursor`` back as ``cursor``."""
    kwargs: dict[str, Any] = {"Limit": limit}
    if cursor:
        kwargs["ExclusiveStartKey"] = {"id": cursor}
    page = table.scan(**kwargs)
    last = page.get("LastEvaluatedKey")
    return ItemPage(
        items=[_item(record) for record in page.get("Items", [])],
        next_cursor=str(last["id"]) if last else None,
    )


@app.get("/items/{item_id}")
async def get_item(item_id: str, table: TableDep) -> Item:
    record = table.get_item(Key={"id": item_id}).get("Item")
    if record is None:
        raise _not_found(item_id)
    return _item(record)


@app.patch("/items/{item_id}")
async def update_item(item_id: str, patch: ItemPatch, table: TableDep) -> Item:
    changes = patch.model_dump(exclude_unset=True, exclude_none=True)
    if not changes:
        return await get_item(item_id, table)
    names = {f"#{key}": key for key in changes}
    values = {f":{key}": value for key, value in changes.items()}
    try:
        updated = table.update_item(
            Key={"id": item_id},
            UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in changes),
            ConditionExpression="attribute_exists(id)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ReturnValues="ALL_NEW",
        )
    except ClientError as exc:
        if _condition_failed(exc):
            raise _not_found(item_id) from exc
        if _refused_as_too_large(exc):
            raise HTTPException(422, TOO_LARGE_FROM_DYNAMODB) from exc
        raise
    return _item(updated["Attributes"])


@app.delete("/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_item(item_id: str, table: TableDep) -> None:
    try:
        table.delete_item(Key={"id": item_id}, ConditionExpression="attribute_exists(id)")
    except ClientError as exc:
        if _condition_failed(exc):
            raise _not_found(item_id) from exc
        raise


handler = Mangum(app)
