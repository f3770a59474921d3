"""The two health reports: the public summary (/health/, settings.HEALTH_CHECKS) and the staff
detail (/health/detail/ and the hourly health_check job, plus HEALTH_DETAIL_CHECKS)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings
from django.utils import timezone

from tasks.health.runner import CheckResult, results_logged, run_checks


def report() -> dict[str, Any]:
    """Run the public checks and return the JSON body that /health/ serves."""
    status, results = run_checks()
    results_logged(results)
    return {"status": status, "checks": {name: asdict(r) for name, r in results.items()}}


def health_detail_report() -> dict[str, Any]:
    """The public summary plus every detail check; logs a warning for each failing check.

    A failing detail check degrades the status; only the summary's critical checks take it down.
    """
    summary = report()
    _, details = run_checks(settings.HEALTH_DETAIL_CHECKS)
    results_logged(details)
    status = summary["status"]
    if status == "ok" and not all(result.ok for result in details.values()):
        status = "degraded"
    return {
        "status": status,
        "checked_at": timezone.now().isoformat(),
        "checks": summary["checks"],
        "detail": {name: asdict(result) for name, result in details.items()},
    }


def database_down_report(error: Exception) -> dict[str, Any]:
    """What /health/detail/ answers when the database fails before its view runs (token and
    session authentication read it): the public summary, which says so, and no detail."""
    body = report()
    if body["status"] != "down":  # the database came back between the failure and the report
        failed = CheckResult(False, f"{type(error).__name__}: {error}", critical=True)
        body = {"status": "down", "checks": {**body["checks"], "database": asdict(failed)}}
    return {**body, "checked_at": timezone.now().isoformat(), "detail": {}}
