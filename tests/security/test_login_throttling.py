"""Password logins (admin and the API's session login) lock out after repeated failures."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.test import Client

from tests.factories import UserFactory

if TYPE_CHECKING:
    pass

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static_files")]

PASSWORD = "the-right-password-42"
LOGIN_PAGES = ["/admin/login/", "/api/auth/login/"]


@pytest.fixture
def admin_user() -> AbstractUser:
    user = UserFactory(username="admin", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    return user


def log_in(client: Client, page: str, password: str) -> int:
    """The status of a login attempt; 302 (redirect onwards) means logged in."""
    return client.post(page, {"username": "admin", "password": password}).status_code


@pytest.mark.parametrize("page", LOGIN_PAGES)
def test_fifty_wrong_passwords_lock_the_login_and_the_right_one_is_then_refused(
    admin_user: AbstractUser, page: str, caplog: pytest.LogCaptureFixture
) -> None:
    client = Client()
    with caplog.at_level(logging.WARNING):
        statuses = [log_in(client, page, f"wrong-{n}") for n in range(50)]

    right = log_in(client, page, PASSWORD)

    assert statuses[0] == 200  # the form again, with an error
    assert statuses[-1] == 429
    assert right == 429
    assert "_auth_user_id" not in client.session
    lockouts = [r for r in caplog.records if "Locking out" in r.getMessage()]
    assert lockouts
    assert 'username: "admin"' in lockouts[0].getMessage()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert PASSWORD not in logged
    assert "wrong-" not in logged


def test_an_operator_lifts_the_lockout_with_a_command(admin_user: AbstractUser) -> None:
    client = Client()
    for n in range(10):
        log_in(client, "/admin/login/", f"wrong-{n}")
    assert log_in(client, "/admin/login/", PASSWORD) == 429

    call_command("axes_reset_username", "admin")

    assert log_in(client, "/admin/login/", PASSWORD) == 302
    assert client.session["_auth_user_id"] == str(admin_user.pk)


def test_a_lockout_is_per_user_and_address_so_others_still_log_in(
    admin_user: AbstractUser,
) -> None:
    for n in range(10):
        log_in(Client(), "/admin/login/", f"wrong-{n}")

    elsewhere = Client(REMOTE_ADDR="198.51.100.7")

    assert log_in(elsewhere, "/admin/login/", PASSWORD) == 302


def test_the_lockout_is_listed_in_the_admin_for_staff_to_delete(admin_user: AbstractUser) -> None:
    for n in range(10):
        log_in(Client(), "/admin/login/", f"wrong-{n}")
    staff = Client()
    staff.force_login(admin_user)

    page = staff.get("/admin/axes/accessattempt/")

    assert page.status_code == 200
    assert b"admin" in page.content
