"""A handler built at the first invocation, not at module level: too late for the extension."""

from __future__ import annotations

import logging
from typing import Any

from mangum_like import Mangum
from tests.helpers import Recorder

logging.getLogger("mangum_like").setLevel(logging.DEBUG)
_handlers: list[Mangum] = []


def handler(event: Any, context: Any) -> Any:
    if not _handlers:
        _handlers.append(Mangum(Recorder()))
    return _handlers[0](event, context)
