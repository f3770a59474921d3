"""Admin for marketdata."""

from django.contrib import admin  # noqa: F401
