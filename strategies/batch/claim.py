"""The set-based claim of a batch: every strategy's run for the tick, in one statement.

The same rows and guarantees as a single claim (`strategies.runs`): one run per (strategy,
tick) and one running run per strategy (the insert's ON CONFLICT DO NOTHING meets both
constraints), each run inserted running with its lease (an advisory lock) taken in the same
statement. A strategy whose run the insert did not make (a redelivery's own run to resume, a
run in progress from an earlier tick), and every live one, is left to the single claim, one
by one: the common case costs one statement, the rare one what it costs today.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection

from marketdata.models import Market
from project.kernel.locks import LockPurpose, lock_key
from strategies.models import Strategy, StrategyRun
from strategies.runs import LEASE_SQL, RUN_COLUMNS, RUNNING, model_from_row

STRATEGY_FIELDS = Strategy._meta.concrete_fields
MARKET_FIELDS = Market._meta.concrete_fields
_PARAMETERS = next(n for n, f in enumerate(STRATEGY_FIELDS) if f.name == "parameters")
_ACTIVE = next(n for n, f in enumerate(STRATEGY_FIELDS) if f.name == "is_active")
_MODE = next(n for n, f in enumerate(STRATEGY_FIELDS) if f.name == "mode")
PAPER = Strategy.Mode.PAPER.value


def _claim_sql() -> str:
    picked = [f'st."{f.column}" AS s{n}' for n, f in enumerate(STRATEGY_FIELDS)]
    picked += [f'mk."{f.column}" AS m{n}' for n, f in enumerate(MARKET_FIELDS)]
    # The columns of RUN_COLUMNS: the parameters snapshot is the strategy's until the run ends.
    values = ["s.s0", "%(tick)s", "%(now)s", "NULL", f"'{RUNNING.value}'", "''"]
    values += [f"s.s{_PARAMETERS}", "''", "''", "''", "%(task_id)s", "%(trigger)s"]
    return (
        f"WITH s AS (SELECT {', '.join(picked)} FROM {Strategy._meta.db_table} st "  # noqa: S608
        f"JOIN {Market._meta.db_table} mk ON mk.id = st.market_id "
        "WHERE st.id = ANY(%(ids)s)), "
        f"run AS (INSERT INTO {StrategyRun._meta.db_table} ({', '.join(RUN_COLUMNS)}) "
        # Paper runs only: a live run is claimed the single way, on the thread that sends it.
        f"SELECT {', '.join(values)} FROM s WHERE s.s{_ACTIVE} AND s.s{_MODE} = '{PAPER}' "
        "ORDER BY s.s0 "
        f"ON CONFLICT DO NOTHING RETURNING id, strategy_id, pg_try_advisory_lock({LEASE_SQL}) "
        "AS leased, set_config('synchronous_commit', 'off', true) AS relaxed) "
        "SELECT s.*, run.id, run.leased FROM s LEFT JOIN run ON run.strategy_id = s.s0 "
        "ORDER BY s.s0"
    )


CLAIM_SQL = _claim_sql()
RELEASE_SQL = (
    "SELECT count(pg_advisory_unlock(%s, k)), pg_current_xact_id() FROM unnest(%s::int4[]) AS k"
)


@dataclass
class BatchClaim:
    """What the claim found: runs it made (running, leased, with strategy and market), the
    active strategies it left to the single claim, and the inactive ones (never run)."""

    claimed: list[StrategyRun] = field(default_factory=list)
    contended: list[Strategy] = field(default_factory=list)
    inactive: list[int] = field(default_factory=list)


def runs_claim(
    *, strategy_ids: Sequence[int], tick: datetime, task_id: str, trigger: str, now: datetime
) -> BatchClaim:
    """Insert the tick's run of every active strategy given, running and leased, at once."""
    params = {"ids": list(strategy_ids), "tick": tick, "now": now}
    params |= {"task_id": task_id, "trigger": trigger}
    with connection.cursor() as cursor:
        cursor.execute(CLAIM_SQL, params)
        rows = cursor.fetchall()
    claim = BatchClaim()
    split, markets = len(STRATEGY_FIELDS), len(MARKET_FIELDS)
    for row in rows:
        strategy = model_from_row(Strategy, STRATEGY_FIELDS, row[:split])
        strategy.market = model_from_row(Market, MARKET_FIELDS, row[split : split + markets])
        run_id, leased = row[-2:]
        if not strategy.is_active:
            claim.inactive.append(strategy.pk)
        elif run_id is None:
            claim.contended.append(strategy)
        elif not leased:
            raise RuntimeError(f"the lease of new run {run_id} is held by another session")
        else:
            claim.claimed.append(_run(run_id, strategy, tick, now, task_id, trigger))
    return claim


def _run(
    run_id: int, strategy: Strategy, tick: datetime, now: datetime, task_id: str, trigger: str
) -> StrategyRun:
    values = [strategy.pk, tick, now, None, RUNNING, "", strategy.parameters, "", "", ""]
    values += [task_id, trigger]
    run = StrategyRun.from_db(connection.alias, ["id", *RUN_COLUMNS], [run_id, *values])
    run.strategy = strategy
    return run


def leases_release_flushing(runs: Sequence[StrategyRun]) -> None:
    """Give back the leases of the batch's runs (a session that dies frees them anyway) and
    wait for the disk once, in one statement: `pg_current_xact_id()` gives it a transaction
    that commits synchronously, and WAL is flushed in order, so every relaxed commit made
    before it (this session's and the single runs' threads') is on disk when it returns."""
    purpose = int(LockPurpose.RUN_LEASE)
    keys = [lock_key(LockPurpose.RUN_LEASE, run.pk)[1] for run in runs]
    with connection.cursor() as cursor:
        cursor.execute(RELEASE_SQL, [purpose, keys])
