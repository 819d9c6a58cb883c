"""``python -m mangum_like``: the ``mangum-like`` command line (serve, invoke, event)."""

from ._cli import main

raise SystemExit(main())
