"""Scheduler test fixtures (shared with tests/strategies)."""

from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    backend,
    backend_name,
    recording_worker,
    run_log,
    scheduler_process,
    use_backend,
)
