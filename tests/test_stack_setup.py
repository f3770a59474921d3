"""`make run`'s set-up cannot trap: .env.example copied as .env works, a bad setting is one
message, and the admin's password is kept in var/local.env and printed once the site is up."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from project.devstack import embedded, stack
from tests.processes import BASE_DIR

# The stack launcher in a fresh interpreter with its two env files moved to a temporary folder.
LAUNCH = (
    "import sys; from pathlib import Path; import project.devstack.stack as s; "
    "s.LOCAL_ENV_FILE = Path(sys.argv[1]); s.DOTENV_FILE = Path(sys.argv[2]); "
    "sys.exit(s.main(['exec', '--', *sys.argv[3:]]))"
)
SHOW_SETTINGS = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.DEBUG, bool(settings.SECRET_KEY), settings.SCHEDULER_BACKEND_NAME)"
)
SET_BY_THE_TESTS = (
    "DEBUG",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "FLOWER_BASIC_AUTH",
    "SCHEDULER_BACKEND",
    "DJANGO_SETTINGS_MODULE",
)


def launch(tmp_path: Path, *command: str, **environ: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in SET_BY_THE_TESTS}
    files = [str(tmp_path / "local.env"), str(tmp_path / ".env")]
    return subprocess.run(
        [sys.executable, "-c", LAUNCH, *files, *command],
        cwd=BASE_DIR,
        env={**clean, **environ},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_env_example_copied_to_dotenv_starts_with_the_generated_local_settings(
    tmp_path: Path,
) -> None:
    shutil.copy(BASE_DIR / ".env.example", tmp_path / ".env")

    result = launch(tmp_path, sys.executable, "-c", SHOW_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "celery"]


def test_an_empty_value_in_dotenv_leaves_the_generated_secret(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET_KEY=\nSCHEDULER_BACKEND=apscheduler\n")

    result = launch(tmp_path, sys.executable, "-c", SHOW_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "apscheduler"]


def test_a_bad_setting_stops_the_launcher_with_one_message_and_no_traceback(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text("SCHEDULER_BACKEND=cron\n")

    result = launch(tmp_path, "true")

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "Tickwork cannot start: SCHEDULER_BACKEND: unknown backend 'cron'; "
        "choose one of: apscheduler, celery",
        "Set it in .env or the environment (see .env.example).",
    ]


def test_the_admin_password_is_generated_into_local_env_and_kept_on_an_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "local.env"
    old.write_text("DEBUG=1\nSECRET_KEY=x\n")
    monkeypatch.setattr(stack, "LOCAL_ENV_FILE", old)
    monkeypatch.setattr(stack, "DOTENV_FILE", tmp_path / ".env")
    monkeypatch.delenv("LOCAL_ADMIN_PASSWORD", raising=False)

    stack.load_local_environment()
    password = stack.read_env_file(old)["LOCAL_ADMIN_PASSWORD"]
    stack.load_local_environment()

    assert len(password) >= 16
    assert stack.read_env_file(old)["LOCAL_ADMIN_PASSWORD"] == password
    assert os.environ["LOCAL_ADMIN_PASSWORD"] == password


@pytest.mark.django_db
def test_the_first_runs_admin_gets_the_kept_password_which_is_printed_with_the_urls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LOCAL_ADMIN_PASSWORD", "kept-in-var-local-env")
    monkeypatch.setenv("WEB_PORT", "8000")

    call_command("ensure_local_admin")
    stack.print_urls()

    (admin,) = get_user_model().objects.filter(is_superuser=True)
    assert admin.username == "admin"
    assert admin.check_password("kept-in-var-local-env")
    printed = capsys.readouterr().out
    assert "password 'kept-in-var-local-env'" in printed
    assert "LOCAL_ADMIN_PASSWORD in var/local.env" in printed


def test_embedded_redis_is_out_of_the_terminals_process_group(tmp_path: Path) -> None:
    """Ctrl-C signals the terminal's foreground process group: Redis, outside it, stays up
    until the launcher has stopped Flower and the workers, then stops it."""
    server = embedded.EmbeddedRedis(tmp_path / "redis", port=embedded.free_port())
    server.start()
    try:
        pid = server._process.pid  # type: ignore[union-attr]

        assert os.getsid(pid) == pid
        assert os.getpgid(pid) != os.getpgid(os.getpid())
    finally:
        server.stop()


LOG_ONCE = (
    "import django, logging; django.setup(); "
    "logging.getLogger('django.request').warning('Not Found: /nothing-here'); "
    "logging.getLogger('apscheduler.scheduler').info('Scheduler started')"
)


@pytest.mark.parametrize(("backend", "apscheduler_lines"), [("celery", 0), ("apscheduler", 1)])
def test_a_process_logs_a_request_warning_once_axes_not_at_all_and_apscheduler_only_in_use(
    backend: str, apscheduler_lines: int
) -> None:
    environ = {k: v for k, v in os.environ.items() if k not in SET_BY_THE_TESTS}
    environ.update(DEBUG="1", SCHEDULER_BACKEND=backend, DJANGO_SETTINGS_MODULE="project.settings")

    result = subprocess.run(
        [sys.executable, "-c", LOG_ONCE],
        cwd=BASE_DIR,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /nothing-here") == 1
    assert result.stderr.count("Scheduler started") == apscheduler_lines
    assert "AXES: BEGIN" not in result.stderr
