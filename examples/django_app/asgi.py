"""Django on Lambda: ``examples.django_app.asgi.handler``.

Django's ASGI handler does not speak the lifespan protocol: in the default ``lifespan="auto"``
the handler logs that once, at INFO, and serves the app without it. Django runs on asyncio:
keep the handler's default ``backend="asyncio"``.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from mangum_like import Mangum

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "examples.django_app.settings")

application = get_asgi_application()

handler = Mangum(application)
