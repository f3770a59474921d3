"""Scheduler backends (Celery beat, APScheduler), leader election and the scheduler health check."""
