"""The web process as the Procfiles start it: gunicorn's limits hold, and its access log has
one line per request but none for static files or the favicon."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from project.devstack.embedded import free_port
from tests.processes import ManagedProcess, start_process, wait_for, wait_for_answer

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Answered without the database (an anonymous API request is a 401): quick under any load.
PROBE = "/api/strategy-kinds/"


@pytest.fixture(scope="module")
def web(django_db_setup: None) -> Iterator[tuple[str, ManagedProcess]]:
    port = free_port()
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))  # one worker: the config's default
    process = start_process(
        "gunicorn",
        [gunicorn, "project.wsgi", "--config=python:project.gunicorn", f"--bind=127.0.0.1:{port}"],
    )
    url = f"http://127.0.0.1:{port}"
    wait_for_answer(process, f"{url}{PROBE}", timeout=120)
    yield url, process
    process.stop()


def access_lines(process: ManagedProcess, marker: str) -> list[str]:
    return [line for line in process.log().splitlines() if marker in line and '"GET ' in line]


def test_the_access_log_has_a_line_per_request_but_none_for_static_files_or_the_favicon(
    web: tuple[str, ManagedProcess],
) -> None:
    url, process = web

    requests.get(f"{url}{PROBE}?probe=one", timeout=30)
    requests.get(f"{url}{PROBE}?probe=two", timeout=30)
    requests.get(f"{url}/favicon.ico", timeout=30)
    requests.get(f"{url}/static/admin/css/base.css", timeout=30)
    wait_for(lambda: access_lines(process, "probe=two"), 10, "the access log's probe=two line")

    assert len(access_lines(process, "probe=one")) == 1
    assert len(access_lines(process, "probe=two")) == 1
    assert access_lines(process, "favicon") == []
    assert access_lines(process, "/static/") == []


def test_a_request_line_past_the_limit_is_refused_by_gunicorn(
    web: tuple[str, ManagedProcess],
) -> None:
    url, _ = web

    long_line = requests.get(f"{url}{PROBE}?q={'x' * 5000}", timeout=30)
    fine = requests.get(f"{url}{PROBE}?q={'x' * 3000}", timeout=30)

    assert long_line.status_code == 414
    assert fine.status_code == 401  # reached the API, which wants a login


def test_too_many_headers_are_refused_by_gunicorn(web: tuple[str, ManagedProcess]) -> None:
    url, _ = web
    headers = {f"X-Extra-{n}": "1" for n in range(120)}

    response = requests.get(f"{url}{PROBE}", headers=headers, timeout=30)

    assert response.status_code in {400, 431}
