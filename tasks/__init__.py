"""Celery tasks (thin), the scheduler backends and the system job table."""
