"""Tickwork: the Django project package (settings, Celery app, urls)."""

from project.celery import app as celery_app

__all__ = ("celery_app",)
