"""The Django example's views."""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST


@require_GET
def hello(request: HttpRequest, name: str) -> HttpResponse:
    visits = int(request.COOKIES.get("visits", "0") or 0) + 1
    response = JsonResponse({"message": f"{settings.GREETING}, {name}!", "visits": visits})
    response.set_cookie("visits", str(visits), httponly=True)
    return response


@csrf_exempt
@require_POST
def echo(request: HttpRequest) -> HttpResponse:
    try:
        received = json.loads(request.body)
    except ValueError:
        return JsonResponse({"error": "the body is not JSON"}, status=400)
    return JsonResponse({"received": received})
