"""Scheduler test fixtures (shared with tests/strategies)."""

from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    a_process_that_fires_nothing,
    backend,
    backend_name,
    recording_worker,
    run_log,
    scheduler_process,
    use_backend,
)
from tests.scheduling.metrics import metrics_token  # noqa: F401 - a fixture
