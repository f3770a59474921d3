"""Health checks and their one runner: a check returns a detail line (or a CheckResult with
data) or raises to fail; settings.HEALTH_CHECKS lists the public ones by dotted path,
HEALTH_DETAIL_CHECKS the staff ones."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

Status = Literal["ok", "degraded", "down"]


class CheckFailed(Exception):
    """Raised by a check whose dependency answered, but not well enough."""


@dataclass(frozen=True)
class CheckResult:
    """A check's outcome: ok, one line for people, and structured data for tools."""

    ok: bool
    detail: str
    # A critical check that fails takes the whole service down; any other degrades it.
    critical: bool = field(default=False, kw_only=True)
    elapsed_ms: float = field(default=0.0, kw_only=True)
    data: Any = field(default=None, kw_only=True)


HealthCheck = Callable[[], "str | CheckResult"]


def health_check(*, critical: bool = False) -> Callable[[HealthCheck], HealthCheck]:
    """Mark a function as a health check. It returns a detail string or raises to fail."""

    def mark(check: HealthCheck) -> HealthCheck:
        check.critical = critical  # type: ignore[attr-defined]
        return check

    return mark


def run_checks(paths: list[str] | None = None) -> tuple[Status, dict[str, CheckResult]]:
    """Run every check (by default settings.HEALTH_CHECKS); an exception in a check counts as
    that check failing, with the reason."""
    results: dict[str, CheckResult] = {}
    for path in paths if paths is not None else settings.HEALTH_CHECKS:
        check: HealthCheck = import_string(path)
        name = path.rsplit(".", 1)[-1].removeprefix("check_")
        critical = getattr(check, "critical", False)
        started = time.perf_counter()
        try:
            outcome = check()
        except Exception as error:  # a check reports, never raises
            outcome = CheckResult(False, f"{type(error).__name__}: {error}")
        if not isinstance(outcome, CheckResult):
            outcome = CheckResult(True, outcome)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        results[name] = replace(outcome, critical=critical, elapsed_ms=elapsed)
    return overall_status(results), results


def results_logged(results: dict[str, CheckResult]) -> None:
    """A warning for each failing check, so the logs say what the reports say."""
    for name, result in results.items():
        if not result.ok:
            logger.warning("health check %s failed: %s", name, result.detail)


def overall_status(results: dict[str, CheckResult]) -> Status:
    if any(not r.ok and r.critical for r in results.values()):
        return "down"
    if any(not r.ok for r in results.values()):
        return "degraded"
    return "ok"


def iso(moment: datetime | None) -> str | None:
    """A moment as the checks' data shows it: ISO 8601, or None."""
    return moment.isoformat() if moment else None
