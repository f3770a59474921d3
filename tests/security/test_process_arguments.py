"""The processes `make run` starts (Procfile.dev under honcho) carry no secret in their
arguments, which every local user can read in /proc/<pid>/cmdline; Flower guards /metrics."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from project.devstack.embedded import free_port
from project.devstack.stack import only_configured_scheduler
from tests.processes import ManagedProcess, run_process, start_process, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

FLOWER_LOGIN = ("ops", "flower-password-" + os.urandom(6).hex())
ROLES = ("gunicorn", "worker", "beat", "project.flower", "marketdata.simulator")


def descendants(root: int) -> list[int]:
    """Every live process below `root`, from the parent links in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def command_lines(pids: list[int]) -> list[str]:
    lines = []
    for pid in pids:
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue  # gone meanwhile
        lines.append(raw.replace(b"\0", b" ").decode(errors="replace"))
    return lines


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def stack() -> Iterator[tuple[ManagedProcess, dict[str, int]]]:
    ports = {"WEB_PORT": free_port(), "FLOWER_PORT": free_port(), "SIMULATOR_PORT": free_port()}
    # As `make run` does: the process names of the configured scheduler backend only.
    command = only_configured_scheduler(["honcho", "start", "-f", "Procfile.dev"])
    honcho = start_process(
        "honcho",
        [str(Path(sys.executable).with_name("honcho")), *command[1:]],
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        FLOWER_BASIC_AUTH=":".join(FLOWER_LOGIN),
        **{name: str(port) for name, port in ports.items()},
    )
    yield honcho, ports
    honcho.stop(timeout=30)


def wait_until_up(honcho: ManagedProcess, ports: dict[str, int]) -> list[str]:
    """The command lines once every port listens and every role has a process."""

    def up() -> list[str] | None:
        lines = command_lines(descendants(honcho.process.pid))
        roles_up = all(any(role in line for line in lines) for role in ROLES)
        return lines if roles_up and all(listening(port) for port in ports.values()) else None

    what = "every role of the stack up and listening"
    return wait_for(up, 120, what, every=0.5, alive=[honcho])  # type: ignore[return-value]


def test_no_process_of_the_local_stack_has_a_secret_in_its_arguments(
    stack: tuple[ManagedProcess, dict[str, int]],
) -> None:
    honcho, ports = stack
    secrets = [FLOWER_LOGIN[1], os.environ["SECRET_KEY"], os.environ["FIELD_ENCRYPTION_KEYS"]]

    lines = wait_until_up(honcho, ports)
    flower = f"http://127.0.0.1:{ports['FLOWER_PORT']}"
    anonymous_metrics = requests.get(f"{flower}/metrics", timeout=30)
    metrics = requests.get(f"{flower}/metrics", auth=FLOWER_LOGIN, timeout=30)
    anonymous_workers = requests.get(f"{flower}/api/workers", timeout=30)

    for line in lines:
        assert not [secret for secret in secrets if secret in line], line
        assert "basic-auth" not in line
    assert anonymous_metrics.status_code == 401
    assert anonymous_workers.status_code == 401
    assert metrics.status_code == 200
    assert b"flower_" in metrics.content


def test_flower_refuses_to_start_without_a_login_when_debug_is_off() -> None:
    env = {key: value for key, value in os.environ.items() if key != "FLOWER_BASIC_AUTH"}

    result = run_process(
        [sys.executable, "-m", "project.flower", "--port", str(free_port())], env=env
    )

    assert result.returncode != 0
    assert "FLOWER_BASIC_AUTH" in result.stderr
