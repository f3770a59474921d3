"""Gunicorn's settings for the web process: request limits, timeouts and a quiet access log.

gunicorn project.wsgi --config python:project.gunicorn --bind 127.0.0.1:8000

A request past a limit never reaches Django: gunicorn answers it itself (a short HTML page,
its own; the README lists them). The access log has one line per request, less static files
and the favicon, which would drown the rest.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.glogging import Logger

# Request line (method, path and query): longer is a 414.
limit_request_line = 4094
# Header fields per request and bytes per field: more or longer is a 400 (431 for size).
limit_request_fields = 100
limit_request_field_size = 8190
# A worker silent this long (seconds) is killed and restarted; the request gets a 502 upstream.
timeout = int(os.environ.get("WEB_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
accesslog = "-"
logger_class = "project.gunicorn.QuietAccessLogger"

QUIET_PREFIXES = ("/static/", "/favicon.ico")


class QuietAccessLogger(Logger):
    """Gunicorn's access log without static files and the favicon."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if environ.get("PATH_INFO", "").startswith(QUIET_PREFIXES):
            return
        super().access(resp, req, environ, request_time)
