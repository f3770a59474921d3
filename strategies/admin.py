"""Admin for strategies."""

from django.contrib import admin  # noqa: F401
