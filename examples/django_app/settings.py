"""Settings of the Django example: no database, no templates, just views."""

from __future__ import annotations

import os

# On Lambda, set DJANGO_SECRET_KEY in the function's environment (or read it from a secret).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-example-only")
DEBUG = False
# API Gateway and Function URLs set Host to their own domain names.
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True
# None, not a zone name. Given any name (and Django's default is "America/Chicago"), Django writes
# it to os.environ["TZ"] and calls time.tzset() when it loads these settings, which moves the
# whole process to that zone: every other time stamp, such as the log lines of other libraries
# or of the development server, shifts with it. With None the process keeps the zone it was
# started in, UTC on Lambda; aware datetimes (USE_TZ) are in UTC either way. Django then has no
# default zone of its own: a view that shows local times passes one to timezone.localtime().
TIME_ZONE = None
GREETING = "Hello"
