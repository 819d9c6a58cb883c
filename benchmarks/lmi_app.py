"""The app of the Lambda Managed Instances benchmark (``benchmarks/lmi_bench.py``).

Shaped like the flagship example (``examples/fastapi_dynamodb``) without its AWS calls: a FastAPI
app whose lifespan creates one client per execution environment, kept in the lifespan state, and
one route, ``GET /items/{item_id}``, that awaits 50 ms of I/O through it. Loaded by name in the
runtime processes (``lmi_app.handler``), with this folder on ``PYTHONPATH``.

The answer names the process that served it and the most requests that client had in flight at
once, so that the benchmark can tell how the runtime spread the invocations.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, TypedDict

from fastapi import Depends, FastAPI, Request

from mangum_like import Mangum

IO_SECONDS = 0.05


class Backend:
    """Stands in for a database client with a connection pool: 50 ms per call."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0

    async def get_item(self, item_id: str) -> dict[str, Any]:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(IO_SECONDS)
        finally:
            self.in_flight -= 1
        return {"id": item_id, "name": f"item {item_id}", "quantity": 1}


class State(TypedDict):
    backend: Backend


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[State]:
    yield {"backend": Backend()}


app = FastAPI(title="LMI benchmark", lifespan=lifespan)


def get_backend(request: Request) -> Backend:
    backend: Backend = request.state.backend
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


@app.get("/items/{item_id}")
async def read_item(item_id: str, backend: BackendDep) -> dict[str, Any]:
    item = await backend.get_item(item_id)
    return {"item": item, "pid": os.getpid(), "peak": backend.peak}


handler = Mangum(app)
