"""API test fixtures: users with tokens, clients logged in as them, a clean throttle; the API
and security tests' conftests take them from here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.core.cache import cache

from tests.api.helpers import client_for

# pytest imports this file before Django is set up: models are imported where used.
if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from rest_framework.test import APIClient


@pytest.fixture(autouse=True)
def fresh_throttle() -> None:
    """Throttle counters live in Redis and outlive a test's database rollback."""
    client = cache._cache.get_client()  # type: ignore[attr-defined]
    for key in client.scan_iter(match="*throttle_*"):
        client.delete(key)


@pytest.fixture
def user(db: None) -> AbstractUser:
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def other_user(db: None) -> AbstractUser:
    from tests.factories import UserFactory

    return UserFactory()


@pytest.fixture
def staff_user(db: None) -> AbstractUser:
    from tests.factories import UserFactory

    return UserFactory(is_staff=True)


@pytest.fixture
def api(user: AbstractUser) -> APIClient:
    return client_for(user)


@pytest.fixture
def other_api(other_user: AbstractUser) -> APIClient:
    return client_for(other_user)


@pytest.fixture
def staff_api(staff_user: AbstractUser) -> APIClient:
    return client_for(staff_user)
