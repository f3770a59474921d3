"""`make run` and `make manage`: start the embedded stack if needed, set up, run a command.

    python -m project.devstack.stack run -- honcho start -f Procfile.dev
    python -m project.devstack.stack exec -- python manage.py shell

`run` starts PostgreSQL and Redis under var/ unless DATABASE_URL / REDIS_URL are set, applies
the idempotent set-up steps, runs the command, and on Ctrl-C or SIGTERM stops the command and
then the servers it started. `exec` only loads the local environment: the servers must be up.
"""

from __future__ import annotations

import argparse
import importlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from project.devstack import embedded

LOCAL_ENV_FILE = embedded.VAR_DIR / "local.env"
DOTENV_FILE = embedded.BASE_DIR / ".env"

# Idempotent steps run before every start; later features add theirs here.
SETUP_COMMANDS: list[list[str]] = [
    ["migrate", "--noinput"],
    ["ensure_local_admin"],
    ["setup_periodic_tasks"],
    ["sync_schedules"],
    ["seed_demo_exchange"],
    ["seed_demo_strategy"],
    # Candles and the demo balances within a minute of start-up, not at the next tick: the
    # watchlist, and the series strategies trade on (which the watchlist job leaves out), so
    # the demo's first run has its history.
    ["run_job", "collect_crypto_data"],
    ["run_job", "collect_due_candles"],
    ["run_job", "sync_user_balances"],
    # One finished backtest on the demo market (its candles backfilled from the simulator).
    ["seed_demo_backtest"],
]


# The Procfile process that fires each scheduler backend's jobs; `run` leaves out the others.
SCHEDULER_PROCESSES = {"celery": "beat", "apscheduler": "scheduler"}


def procfile_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        name, sep, _ = line.partition(":")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            names.append(name.strip())
    return names


def only_configured_scheduler(command: list[str]) -> list[str]:
    """`honcho start -f FILE` without process names: name every process but the processes of
    the backends SCHEDULER_BACKEND does not choose, so one backend fires at a time."""
    if command[:2] != ["honcho", "start"] or "-f" not in command:
        return command
    procfile = command[command.index("-f") + 1]
    if [arg for arg in command[2:] if arg not in ("-f", procfile)]:
        return command  # names or options given: the user chose
    backend = os.environ.get("SCHEDULER_BACKEND", "celery").strip().lower()
    unwanted = {name for key, name in SCHEDULER_PROCESSES.items() if key != backend}
    names = procfile_names(embedded.BASE_DIR / procfile)
    return [*command, *(name for name in names if name not in unwanted)]


def generate_local_env() -> dict[str, str]:
    """Secrets for this machine only, written once to var/local.env (git-ignored)."""
    from cryptography.fernet import Fernet

    return {
        "DEBUG": "1",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "FLOWER_BASIC_AUTH": f"admin:{secrets.token_urlsafe(12)}",
        **local_admin(),
    }


def local_admin() -> dict[str, str]:
    """The password `ensure_local_admin` gives the user 'admin' it creates on a first run."""
    return {"LOCAL_ADMIN_PASSWORD": secrets.token_urlsafe(12)}


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'\"")
    return values


def load_local_environment() -> None:
    """The process environment wins, then .env, then the generated var/local.env.

    An empty value in .env counts as unset (`.env.example` leaves secrets empty): the
    generated one applies instead of an empty secret that stops start-up.
    """
    if not LOCAL_ENV_FILE.exists():
        LOCAL_ENV_FILE.parent.mkdir(parents=True, exist_ok=True)
        LOCAL_ENV_FILE.write_text(
            "# Generated for this machine by `make run`; never commit it.\n"
            + "".join(f"{k}={v}\n" for k, v in generate_local_env().items())
        )
        LOCAL_ENV_FILE.chmod(0o600)
    elif "LOCAL_ADMIN_PASSWORD" not in read_env_file(LOCAL_ENV_FILE):
        with LOCAL_ENV_FILE.open("a") as local:  # a var/ from before the password was kept
            local.write("".join(f"{k}={v}\n" for k, v in local_admin().items()))
    for path in (DOTENV_FILE, LOCAL_ENV_FILE):
        for key, value in read_env_file(path).items():
            if value:
                os.environ.setdefault(key, value)
    os.environ.setdefault("WEB_PORT", os.environ.get("PORT", "8000"))


def settings_problem() -> str | None:
    """What stops the settings from loading, as their one message; None when they load."""
    from django.core.exceptions import ImproperlyConfigured

    module = os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    try:
        importlib.import_module(module)
    except ImproperlyConfigured as error:
        return str(error)
    return None


@contextmanager
def embedded_servers() -> Iterator[None]:
    """Start what DATABASE_URL / REDIS_URL do not point elsewhere; stop it on the way out."""
    started: list[embedded.EmbeddedPostgres | embedded.EmbeddedRedis] = []
    try:
        if not os.environ.get("DATABASE_URL"):
            postgres = embedded.EmbeddedPostgres(embedded.LOCAL_PG_DIR)
            os.environ["DATABASE_URL"] = postgres.start()
            started.append(postgres)
            print(f"Embedded PostgreSQL: {embedded.LOCAL_PG_DIR}", flush=True)
        if not os.environ.get("REDIS_URL"):
            port = embedded.LOCAL_REDIS_PORT
            redis_server = embedded.EmbeddedRedis(embedded.LOCAL_REDIS_DIR, port=port)
            os.environ["REDIS_URL"] = redis_server.start()
            started.append(redis_server)
            print(f"Embedded Redis: 127.0.0.1:{port}, data in {embedded.LOCAL_REDIS_DIR}")
        yield
    finally:
        for server in reversed(started):
            server.stop()
        if started:
            print("Embedded servers stopped.", flush=True)


def manage(*args: str, verbose: bool = False) -> None:
    """A set-up step; `verbose` lets it log the start-up lines every process would repeat."""
    environ = {**os.environ, "AXES_VERBOSE": "1" if verbose else "0"}
    command = [sys.executable, "manage.py", *args]
    subprocess.run(command, check=True, cwd=embedded.BASE_DIR, env=environ)


def run_until_signalled(command: list[str]) -> int:
    """Run `command` in its own session; Ctrl-C or SIGTERM here stops it once, gracefully."""
    child = subprocess.Popen(command, start_new_session=True, cwd=embedded.BASE_DIR)
    print_urls_when_up()

    stopped_by_user = False

    def stop_child(signum: int, _frame: object) -> None:
        nonlocal stopped_by_user
        stopped_by_user = True
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, stop_child)
    signal.signal(signal.SIGTERM, stop_child)
    returncode = child.wait()
    return 0 if stopped_by_user else returncode


def print_urls() -> None:
    port = os.environ["WEB_PORT"]
    user = os.environ.get("FLOWER_BASIC_AUTH", "").split(":", 1)[0]
    password = os.environ.get("LOCAL_ADMIN_PASSWORD", "")
    print(
        f"\n  Tickwork is up. Strategies: http://127.0.0.1:{port}/\n"
        f"  Admin:  http://127.0.0.1:{port}/admin/ (user 'admin', password {password!r}:"
        " LOCAL_ADMIN_PASSWORD in var/local.env)\n"
        f"  API:    http://127.0.0.1:{port}/api/docs/\n"
        f"  Health: http://127.0.0.1:{port}/health/\n"
        f"  Flower: http://127.0.0.1:5555/ (user {user!r}, password in var/local.env)\n",
        flush=True,
    )


def print_urls_when_up(timeout: float = 180.0, settle: float = 10.0) -> threading.Thread:
    """Print the addresses once the site and Flower answer and the processes' start-up lines
    (workers, beat, Flower's task list) are out: the last lines of the start, not lost in them."""

    def wait_then_print() -> None:
        deadline = time.monotonic() + timeout
        ports = [int(os.environ["WEB_PORT"]), int(os.environ.get("FLOWER_PORT", "5555"))]
        while ports and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", ports[0]), timeout=1).close()
            except OSError:
                time.sleep(0.5)
                continue
            ports.pop(0)
        if ports:
            print(f"Nothing answered on port {ports[0]} within {timeout:.0f} s.", flush=True)
            return
        time.sleep(settle)
        print_urls()

    thread = threading.Thread(target=wait_then_print, daemon=True)
    thread.start()
    return thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m project.devstack.stack", description=__doc__)
    parser.add_argument("mode", choices=["run", "exec"])
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        parser.error("give the command to run after --")
    load_local_environment()
    problem = settings_problem()
    if problem:
        print(f"Tickwork cannot start: {problem}", file=sys.stderr)
        print("Set it in .env or the environment (see .env.example).", file=sys.stderr)
        return 2
    # Until the command runs, SIGTERM unwinds like Ctrl-C, so started servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.mode == "exec":
        if command[0] == "python":
            command[0] = sys.executable  # this virtualenv's, whatever PATH says
        os.execvp(command[0], command)  # noqa: S606 - replaces this process on purpose
    with embedded_servers():
        for index, setup in enumerate(SETUP_COMMANDS):
            try:
                manage(*setup, verbose=index == 0)
            except subprocess.CalledProcessError:
                print(f"Set-up step `manage.py {' '.join(setup)}` failed: see above.")
                return 1
        return run_until_signalled(only_configured_scheduler(command))


if __name__ == "__main__":
    sys.exit(main())
