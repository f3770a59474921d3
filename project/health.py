"""Health checks: each check is a function in settings.HEALTH_CHECKS returning a CheckResult."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Literal

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.utils.module_loading import import_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

Status = Literal["ok", "degraded", "down"]


class CheckFailed(Exception):
    """Raised by a check whose dependency answered, but not well enough."""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str
    # A critical check that fails takes the whole service down; any other degrades it.
    critical: bool
    elapsed_ms: float


HealthCheck = Callable[[], str]


def health_check(*, critical: bool = False) -> Callable[[HealthCheck], HealthCheck]:
    """Mark a function as a health check. It returns a detail string or raises to fail."""

    def mark(check: HealthCheck) -> HealthCheck:
        check.critical = critical  # type: ignore[attr-defined]
        return check

    return mark


@health_check(critical=True)
def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return ""


@health_check()
def check_broker() -> str:
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return ""


def run_checks(paths: list[str] | None = None) -> tuple[Status, dict[str, CheckResult]]:
    """Run every check; an exception in a check counts as that check failing, with the reason."""
    results: dict[str, CheckResult] = {}
    for path in paths if paths is not None else settings.HEALTH_CHECKS:
        check: HealthCheck = import_string(path)
        name = path.rsplit(".", 1)[-1].removeprefix("check_")
        started = time.perf_counter()
        try:
            ok, detail = True, check()
        except Exception as error:  # a check reports, never raises
            ok, detail = False, f"{type(error).__name__}: {error}"
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        results[name] = CheckResult(ok, detail, getattr(check, "critical", False), elapsed)
    return overall_status(results), results


def overall_status(results: dict[str, CheckResult]) -> Status:
    if any(not r.ok and r.critical for r in results.values()):
        return "down"
    if any(not r.ok for r in results.values()):
        return "degraded"
    return "ok"


def report() -> dict[str, object]:
    """Run the checks and return the JSON body that /health/ serves and health_check logs."""
    status, results = run_checks()
    for name, result in results.items():
        if not result.ok:
            logger.warning("health check %s failed: %s", name, result.detail)
    return {"status": status, "checks": {name: asdict(r) for name, r in results.items()}}


@never_cache
@require_GET
def health_view(request: HttpRequest) -> JsonResponse:
    body = report()
    return JsonResponse(body, status=503 if body["status"] == "down" else 200)
