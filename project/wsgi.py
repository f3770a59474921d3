"""WSGI entry point for gunicorn."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

application = get_wsgi_application()

# Web processes join the APScheduler leader election (Celery's start() does nothing). It
# returns at once and never stops the web from serving; /health/ reports a scheduler problem.
from project.kernel.scheduling import get_scheduler  # noqa: E402 - needs the app set up above

get_scheduler().start()
