"""Security tests use the API tests' users, token clients and throttle reset."""

from tests.api.fixtures import api, fresh_throttle, user  # noqa: F401 - fixtures
