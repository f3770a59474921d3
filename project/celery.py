"""The Celery app; its configuration is the CELERY_* names in project.settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

app = Celery("tickwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
