"""A FastAPI CRUD service for items stored in DynamoDB, deployed as one Lambda function.

The lifespan creates ONE boto3 ``Table`` resource per execution environment and keeps it in the
lifespan state, so every invocation the environment serves reuses its connection pool
(``request.state.table``). Lambda's handler setting is ``examples.fastapi_dynamodb.app.handler``.

Routes: ``POST /items`` (201), ``GET /items`` (paginated), ``GET /items/{id}``,
``PATCH /items/{id}``, ``DELETE /items/{id}`` (204); an unknown id answers 404.
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


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    quantity: int = Field(default=0, ge=0)
    tags: list[str] = Field(default_factory=list, max_length=20)


class ItemPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    quantity: int | None = Field(default=None, ge=0)
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


# The routes are ``async def`` and call boto3 directly: a Lambda environment serves one request
# at a time, so a blocking call holds up nobody, and every use of the Table resource stays on the
# loop's thread (boto3 resources must not be shared between threads).


@app.post("/items", status_code=status.HTTP_201_CREATED)
async def create_item(item: ItemIn, table: TableDep, request: Request, response: Response) -> Item:
    created = Item(id=uuid.uuid4().hex, **item.model_dump())
    table.put_item(Item=created.model_dump())
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
