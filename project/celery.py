"""The Celery app; its configuration is the CELERY_* names in project.settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Every task passes one edge (named by path, as settings name a backend: project sits below
# tasks): a firing's start stamped, a database outage retried rather than acknowledged.
app = Celery("tickwork", task_cls="tasks.edge:EdgeTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
