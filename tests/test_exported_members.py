"""The public API is exactly what ``__all__`` names, sorted, every name importable."""

from __future__ import annotations

from types import ModuleType

import mangum_like
from mangum_like import _exceptions


def test_all_is_sorted_and_complete() -> None:
    # Public submodules (mangum_like.runtime, the runtime's entry point) are no members.
    public = {
        name
        for name, value in vars(mangum_like).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    public.add("__version__")
    assert mangum_like.__all__ == sorted(mangum_like.__all__)
    assert set(mangum_like.__all__) == public


def test_every_exception_shares_one_base() -> None:
    for name in mangum_like.__all__:
        value = getattr(mangum_like, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, mangum_like.MangumLikeError)
    assert issubclass(mangum_like.LifespanUnsupported, mangum_like.LifespanFailure)
    assert issubclass(_exceptions.InvalidRequest, mangum_like.MangumLikeError)
    assert issubclass(mangum_like.PassThroughFailed, mangum_like.MangumLikeError)


def test_version() -> None:
    assert mangum_like.__version__.count(".") == 2
