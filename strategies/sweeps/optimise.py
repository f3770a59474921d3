"""TPE search with Optuna: its study in our PostgreSQL, ask/tell driven by one task at a time.

The study lives in Optuna's RDB storage in the `optuna` schema of our database (tables made by
the migration `0006_sweeps_optuna_storage`). Each step, serialised on the sweep's row, first
settles the running trials from the result rows (a finished row is told; a trial whose row was
never written, because the process died between ask and commit, gets its row now), then asks
for trials until `SWEEP_TPE_PARALLEL` are in flight. Each trial is a one-set chunk on the
backtest workers, exactly like a grid's. Nothing lives only in memory: after every process was
stopped, `sweeps_resume` sends a step, and no completed trial is lost (they are in the storage).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import optuna
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState
from sqlalchemy.engine import URL

from strategies.engine import BaseStrategy, ParamType, get_strategy_class
from strategies.engine.base import parameters_to_json
from strategies.errors import InvalidParameters
from strategies.sweeps import messages, planning, space
from strategies.sweeps.models import Sweep, SweepSet

logger = logging.getLogger(__name__)
SCHEMA = "optuna"


def storage_url(database: dict[str, Any]) -> str:
    """A Django DATABASES entry as an SQLAlchemy URL (psycopg 3; a socket folder as `host`)."""
    host = database.get("HOST") or None
    query = {"host": host} if host and host.startswith("/") else {}
    url = URL.create(
        "postgresql+psycopg",
        username=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        host=None if query else host,
        port=int(database["PORT"]) if database.get("PORT") else None,
        database=database["NAME"],
        query=query,
    )
    return url.render_as_string(hide_password=False)


def storage_open(database: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Optuna's storage on `database`, its tables in the `optuna` schema (made if missing)."""
    options = {"connect_args": {"options": f"-c search_path={SCHEMA}"}, "pool_pre_ping": True}
    return optuna.storages.RDBStorage(storage_url(database), engine_kwargs=options)


@functools.cache
def storage() -> optuna.storages.RDBStorage:
    """This process's storage on the default database (one engine per process)."""
    from django.db import connection

    return storage_open(connection.settings_dict)


def study_create(*, sweep: Sweep) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=sweep.seed)
    return optuna.create_study(
        study_name=sweep.study_name,
        storage=storage(),
        sampler=sampler,
        direction="maximize",
        load_if_exists=True,
    )


def _study(sweep: Sweep) -> optuna.Study:
    sampler = optuna.samplers.TPESampler(seed=sweep.seed)
    return optuna.load_study(study_name=sweep.study_name, storage=storage(), sampler=sampler)


@transaction.atomic
def optimise_step(*, sweep_id: int) -> str:
    """One step of the ask/tell loop (see the module's docstring); returns the sweep's status."""
    sweep = Sweep.objects.select_for_update().get(pk=sweep_id)
    if sweep.status != Sweep.Status.RUNNING:
        return sweep.status
    study = _study(sweep)
    kind = get_strategy_class(sweep.kind)
    chunks = _trials_settle(sweep, study, kind)
    trials = study.get_trials(deepcopy=False)
    finished = sum(trial.state.is_finished() for trial in trials)
    running = len(trials) - finished
    if finished >= sweep.size and not running:
        sweep.status, sweep.finished_at = Sweep.Status.DONE, timezone.now()
        sweep.save(update_fields=["status", "finished_at"])
        return sweep.status
    room = min(settings.SWEEP_TPE_PARALLEL - running, sweep.size - finished - running)
    distributions = trial_distributions(kind, sweep.space)
    for _ in range(max(room, 0)):
        chunks.extend(_trial_ask(sweep, study, kind, distributions))
    messages.chunks_send(sweep_id=sweep.pk, chunks=chunks)
    return sweep.status


def _trials_settle(sweep: Sweep, study: optuna.Study, kind: type[BaseStrategy]) -> list[int]:
    """Tell every running trial whose set is done; plan the rows of those that have none."""
    chunks = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        try:
            cleaned = kind.clean_parameters(trial.params)
        except InvalidParameters:  # asked, refused, and the process died before telling
            study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
            continue
        row = sweep.sets.filter(window=planning.ALL, params_hash=space.set_hash(cleaned)).first()
        if row is None:
            chunks.extend(_row_plan(sweep, trial.number, cleaned))
        elif row.done_at is not None:
            _tell(study, trial.number, row)
    return chunks


def _trial_ask(
    sweep: Sweep,
    study: optuna.Study,
    kind: type[BaseStrategy],
    distributions: dict[str, BaseDistribution],
) -> list[int]:
    """Ask one trial and plan its set; a set the kind refuses is a failed trial at once, and
    a set already backtested is told its result (the row is unique per set)."""
    trial = study.ask(distributions)
    try:
        cleaned = kind.clean_parameters(trial.params)
    except InvalidParameters as error:
        logger.info("sweep %s trial %s refused: %s", sweep.pk, trial.number, error)
        study.tell(trial.number, state=TrialState.FAIL)
        return []
    row = sweep.sets.filter(window=planning.ALL, params_hash=space.set_hash(cleaned)).first()
    if row is None:
        return _row_plan(sweep, trial.number, cleaned)
    if row.done_at is not None:
        _tell(study, trial.number, row)
    return []


def _row_plan(sweep: Sweep, number: int, cleaned: dict[str, Any]) -> list[int]:
    chunk = (sweep.sets.order_by("-chunk").values_list("chunk", flat=True).first() or 0) + 1
    SweepSet.objects.bulk_create(
        [
            SweepSet(
                sweep=sweep,
                window=planning.ALL,
                params_hash=space.set_hash(cleaned),
                parameters=parameters_to_json(cleaned),
                chunk=chunk,
                trial=number,
            )
        ],
        ignore_conflicts=True,
    )
    return [chunk]


def _tell(study: optuna.Study, number: int, row: SweepSet) -> None:
    """A ranked result is the trial's value; an error or a set below the constraints fails it."""
    if row.ranked and row.value is not None:
        study.tell(number, row.value, skip_if_finished=True)
    else:
        study.tell(number, state=TrialState.FAIL, skip_if_finished=True)


def trial_distributions(kind: type[BaseStrategy], raw: Any) -> dict[str, BaseDistribution]:
    """Each swept parameter as an Optuna distribution: a set is categorical, a range an int or
    float range (stepped when the range has a step)."""
    distributions: dict[str, BaseDistribution] = {}
    for axis in space.space_parse(kind, raw):
        if not axis.is_range:
            choices = tuple(parameters_to_json({"v": v})["v"] for v in axis.values)
            distributions[axis.name] = CategoricalDistribution(choices)
        elif axis.param.type is ParamType.INTEGER:
            distributions[axis.name] = IntDistribution(axis.low, axis.high, step=axis.step or 1)
        else:
            step = float(axis.step) if axis.step is not None else None
            distributions[axis.name] = FloatDistribution(
                float(axis.low), float(axis.high), step=step
            )
    return distributions
