"""Malformed events never escape: every fixture, with each nested object damaged in turn.

Each object or list inside an event (``requestContext``, ``cf.config``, ``headers``, ...) is
replaced by a string, a number, a list and ``null``, one at a time. The handler must answer
(a result, or a streamed answer) or raise ``UnsupportedEvent``; any other exception escaping is
a defect. The same handler serves them all: its loop and lifespan state survive every fault.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from mangum_like import Mangum, UnsupportedEvent

from .helpers import EVENTS, Context, Recorder, load_event

ALL_EVENTS = sorted(
    path.relative_to(EVENTS).as_posix()
    for path in EVENTS.glob("*/*/*.json")
    if path.parent.name != "LICENSES"
)
DAMAGE: tuple[Any, ...] = ("damaged", 7, ["damaged"], None)

Path = tuple[str | int, ...]


def nested_objects(value: Any, path: Path = ()) -> Iterator[Path]:
    """The path of every object and list below the top level, outermost first."""
    children: Any = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        if isinstance(child, (dict, list)):
            yield (*path, key)
            yield from nested_objects(child, (*path, key))


def damaged(event: dict[str, Any], path: Path, replacement: Any) -> dict[str, Any]:
    copied = copy.deepcopy(event)
    target: Any = copied
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = replacement
    return copied


class Stream:
    """Enough of a response stream to take the answer of a streamed invocation."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.ended = False
        self.failed: BaseException | None = None

    def start(self, prelude: bytes) -> None:
        self.parts.append(prelude)

    def write(self, chunk: bytes) -> None:
        self.parts.append(chunk)

    def end(self) -> None:
        self.ended = True

    def fail(self, error: BaseException) -> None:
        self.failed = error


@pytest.fixture(scope="module")
def handler() -> Iterator[tuple[Mangum, Recorder]]:
    app = Recorder(lifespan_state={"pool": "the one pool"})
    with Mangum(app) as mangum:
        yield mangum, app


def test_the_corpus_holds_every_kind() -> None:
    kinds = {name.split("/")[1] for name in ALL_EVENTS}
    assert {"apigw-rest-v1", "apigw-http-v2", "function-url", "alb-single", "alb-multi"} <= kinds
    assert {"lambda-edge", "non-http"} <= kinds
    assert len(ALL_EVENTS) > 250


@pytest.mark.parametrize("name", ALL_EVENTS)
def test_every_damaged_member_answers_or_is_unsupported(
    name: str, handler: tuple[Mangum, Recorder]
) -> None:
    mangum, app = handler
    event = load_event(name)
    if not isinstance(event, dict):
        pytest.fail(f"{name} is not a JSON object")
    for path in nested_objects(event):
        for replacement in DAMAGE:
            bad = damaged(event, path, replacement)
            for streamed in (False, True):
                try:
                    if streamed:
                        stream = Stream()
                        result = mangum.stream(bad, Context(), stream)
                        assert result is not None or stream.ended or stream.failed is not None
                    else:
                        result = mangum(bad, Context())
                        assert isinstance(result, dict)
                except UnsupportedEvent:
                    pass
                except Exception as exc:  # the defect this test is for: say which damage
                    raise AssertionError(
                        f"{type(exc).__name__} escaped for {name} with {'.'.join(map(str, path))}"
                        f" = {replacement!r} ({'stream' if streamed else 'buffered'}): {exc}"
                    ) from exc
    # The environment is the one it was: same lifespan state, and a good event still served.
    assert mangum.state == {"pool": "the one pool"}
    good = load_event("powertools/apigw-http-v2/apiGatewayProxyV2Event_GET.json")
    before = len(app.scopes)
    assert mangum(good, Context())["statusCode"] == 200
    assert len(app.scopes) == before + 1
    assert app.scopes[-1]["state"] == {"pool": "the one pool"}
