"""The handler of ``tests/lambda_apps/concurrent.py`` with the parent-death signal turned off
again after Mangum asked for it: what the official client's workers on Lambda Managed Instances
go through without it (``tests/test_lmi_awslambdaric.py``).
"""

from __future__ import annotations

import ctypes

from tests.lambda_apps.concurrent import handler

__all__ = ["handler"]

_PR_SET_PDEATHSIG = 1  # prctl(2), <linux/prctl.h>: 0 as the signal turns it off
ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, 0, 0, 0, 0)
