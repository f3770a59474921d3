"""The tasks app's configuration: Celery tasks, the beat's tables and the job views."""

from django.apps import AppConfig


class TasksConfig(AppConfig):
    name = "tasks"
    verbose_name = "Jobs and scheduling"
