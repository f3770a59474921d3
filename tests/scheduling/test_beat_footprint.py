"""The beat process loads none of the heavy libraries it never uses: ccxt (its exchange classes
are about 50-95 MB), and the backtester's and the optimiser's numpy, Optuna and SQLAlchemy
(about 40 MB together); the memory targets (104 MB at 1,000,000 jobs) depend on it."""

from __future__ import annotations

import json
import sys

import pytest

from tests.processes import run_process

# What `celery -A project beat -S tasks.scheduling.beat:TickScheduler` imports before its
# first tick: Django with every app's admin, the task modules, then the scheduler.
BEAT_IMPORTS = """
import json, sys
import django
from project.celery import app
django.setup()
app.loader.import_default_modules()
from tasks.scheduling.beat import TickScheduler
loaded_by_beat = "ccxt" in sys.modules
heavy = sorted(set(sys.modules) & {"numpy", "optuna", "sqlalchemy", "apscheduler"})
from marketdata.exchanges.clients import _client_class
_client_class("bitstamp", False)
print(json.dumps({"beat": loaded_by_beat, "client": "ccxt" in sys.modules, "heavy": heavy}))
"""


@pytest.mark.integration  # a fresh interpreter imports what the beat imports
def test_the_beat_process_does_not_load_ccxt_until_a_client_is_built() -> None:
    result = run_process([sys.executable, "-c", BEAT_IMPORTS])
    assert result.returncode == 0, result.stderr

    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {"beat": False, "client": True, "heavy": []}
