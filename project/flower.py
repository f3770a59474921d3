"""Start Flower in this process, its login from the environment, every page behind it.

python -m project.flower [--address 0.0.0.0] [--port 5555]

Flower reads `FLOWER_BASIC_AUTH` (user:password, comma-separated for several) from the
environment itself, so the password is never in a command line (`/proc/<pid>/cmdline` is
readable by every local user). Without it Flower refuses to start unless DEBUG is on.
"""

from __future__ import annotations

import argparse
import os

import django
from tornado import web


def flower_arguments(address: str, port: int) -> list[str]:
    """Flower's command-line options: nothing secret belongs here."""
    return [
        "flower",
        f"--address={address}",
        f"--port={port}",
        "--persistent=False",
        "--max_tasks=10000",
        "--purge_offline_workers=300",
    ]


def require_login() -> None:
    from django.conf import settings

    if not settings.FLOWER_BASIC_AUTH and not settings.DEBUG:
        raise SystemExit("FLOWER_BASIC_AUTH: must be set (user:password) when DEBUG is off")


def guard_metrics() -> None:
    """Flower serves /metrics (task and worker names, counts) without auth: put it behind it."""
    from flower import urls
    from flower.views.monitor import Metrics

    class AuthenticatedMetrics(Metrics):
        @web.authenticated
        async def get(self) -> None:
            await super().get()

    for index, route in enumerate(urls.handlers):
        if isinstance(route, tuple) and route[1] is Metrics:
            urls.handlers[index] = (route[0], AuthenticatedMetrics, *route[2:])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m project.flower")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FLOWER_PORT", "5555")))
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    require_login()
    guard_metrics()
    from project.celery import app

    app.start(flower_arguments(options.address, options.port))


if __name__ == "__main__":
    main()
