"""URLs of the Django example."""

from __future__ import annotations

from django.urls import path

from examples.django_app import views

urlpatterns = [
    path("hello/<str:name>", views.hello),
    path("echo", views.echo),
]
