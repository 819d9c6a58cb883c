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
GREETING = "Hello"
