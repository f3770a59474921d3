"""Strategy tests run against both scheduler backends (fixtures from tests/scheduling)."""

from tests.scheduling.fixtures import (  # noqa: F401 - fixtures
    backend_name,
    recording_worker,
    run_log,
    scheduler_process,
    use_backend,
)
