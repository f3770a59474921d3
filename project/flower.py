"""Start Flower with basic auth; without credentials it refuses unless DEBUG is on.

python -m project.flower [--address 0.0.0.0] [--port 5555]
"""

from __future__ import annotations

import argparse
import os
import sys

import django


def flower_command(address: str, port: int) -> list[str]:
    from django.conf import settings

    command = [
        # This interpreter's Celery: the virtualenv need not be on PATH.
        sys.executable,
        "-m",
        "celery",
        "-A",
        "project",
        "flower",
        f"--address={address}",
        f"--port={port}",
        "--persistent=False",
        "--max_tasks=10000",
        "--purge_offline_workers=300",
    ]
    if settings.FLOWER_BASIC_AUTH:
        command.append(f"--basic-auth={settings.FLOWER_BASIC_AUTH}")
    elif not settings.DEBUG:
        raise SystemExit("FLOWER_BASIC_AUTH: must be set (user:password) when DEBUG is off")
    return command


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m project.flower")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("FLOWER_PORT", "5555")))
    options = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    django.setup()
    command = flower_command(options.address, options.port)
    sys.stdout.flush()
    os.execvp(command[0], command)  # noqa: S606 - replaces this process on purpose


if __name__ == "__main__":
    main()
