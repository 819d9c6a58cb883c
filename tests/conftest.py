from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mangum_like import Mangum


@pytest.fixture(params=["asyncio", "trio"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every test that takes ``backend`` runs on asyncio and on trio."""
    value: str = request.param
    return value


@pytest.fixture
def make_handler() -> Iterator[Callable[..., Mangum]]:
    """Build handlers that are shut down (loop closed, lifespan ended) after the test."""
    handlers: list[Mangum] = []

    def make(*args: Any, **kwargs: Any) -> Mangum:
        handler = Mangum(*args, **kwargs)
        handlers.append(handler)
        return handler

    yield make
    for handler in handlers:
        handler.shutdown()
