"""Benchmark: a 1,000-set SMA-crossover sweep over a year of 1m candles on 1, then 2 backtest
worker processes; 20 sampled sets against single backtests; a worker SIGKILLed mid-sweep; an
Optuna study stopped with every process and resumed.

Real parts only: a throw-away PostgreSQL and Redis, `celery worker` processes on the backtests
queue, the sweep's chunks sent as in production. Sets are drawn at random (seeded), so any prefix
of the sweep costs what the whole does on average: the one-process rate is measured on the first
`--sets-1` of them. The last line printed is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._stack import django_on_ephemeral_stack
from bench._sweep_parts import MINUTES, YEAR_START, Worker, done, status, wait

SPACE = {"fast": {"min": 5, "max": 60}, "slow": {"min": 70, "max": 600}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", type=int, default=1000, help="sets of the two-process sweep")
    parser.add_argument("--sets-1", type=int, default=250, help="sets timed on one process")
    parser.add_argument("--fault-sets", type=int, default=120)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--writes-only", action="store_true", help="only result_writes_per_s")
    args = parser.parse_args()
    with django_on_ephemeral_stack():
        figures = result_writes() if args.writes_only else measure(args)
    print(json.dumps(figures))


def measure(args: argparse.Namespace) -> dict[str, object]:
    from django.contrib.auth import get_user_model

    from bench._sweep_parts import market_with_a_year_of_minutes

    figures: dict[str, object] = {"load_average_before": _load()}
    started = time.monotonic()
    market = market_with_a_year_of_minutes()
    owner = get_user_model().objects.create_user("bench", password=os.urandom(16).hex())
    print(f"a year of 1m candles written in {time.monotonic() - started:.1f} s", flush=True)
    done_1, seconds_1, cpu_1, _ = timed_sweep(
        market, owner, concurrency=1, sets=args.sets, stop=args.sets_1
    )
    done_2, seconds_2, cpu_2, sweep = timed_sweep(
        market, owner, concurrency=2, sets=args.sets, stop=None
    )
    rate_1, rate_2 = done_1 / seconds_1, done_2 / seconds_2
    # CPU seconds a set costs (candle loads included): what the shared machine cannot skew.
    figures.update(
        cpu_s_per_set_1=round(cpu_1 / done_1, 3), cpu_s_per_set_2=round(cpu_2 / done_2, 3)
    )
    print(json.dumps({"sets_per_s_1": rate_1, "sets_per_s_2": rate_2}), flush=True)
    figures.update(
        sets=done_2,
        sets_timed_1=done_1,
        sets_per_s_1=round(rate_1, 3),
        sets_per_s_2=round(rate_2, 3),
        scaling_efficiency=round(rate_2 / (2 * rate_1), 3),
        all_1000_s=round(seconds_2, 1),
        load_average_after_sweeps=_load(),
    )
    figures["samples_equal_single_backtests"] = samples_equal(sweep, 20)
    print(json.dumps(figures), flush=True)
    figures.update(fault_kill(market, owner, args.fault_sets))
    print(json.dumps(figures), flush=True)
    figures.update(fault_optuna(market, owner, args.trials))
    figures.update(result_writes())
    figures["load_average_after"] = _load()
    return figures


def result_writes(count: int = 2000) -> dict[str, object]:
    """PostgreSQL's rate for result rows through the sweeps' own write (`set_record`: one
    UPDATE and commit per set), on one connection: the ceiling of one database."""
    from django.contrib.auth import get_user_model

    from bench._sweep_parts import market_with_a_year_of_minutes
    from strategies.sweeps.running import set_record

    if not get_user_model().objects.exists():
        get_user_model().objects.create_user("bench", password=os.urandom(16).hex())
        market_with_a_year_of_minutes()
    from marketdata.models import Market

    owner, market = get_user_model().objects.first(), Market.objects.first()
    sweep = sweep_new(market, owner, size=count, seed=99)
    outcome = {"sharpe": 1.0, "trades": 3, "total_return_pct": 1.0, "trades_hash": "x" * 64}
    rows = list(sweep.sets.all())
    started = time.monotonic()
    for row in rows:
        set_record(sweep=sweep, row=row, outcome=outcome)
    rate = len(rows) / (time.monotonic() - started)
    return {"result_writes_per_s": round(rate, 1), "load_average_writes": _load()}


def sweep_new(market: object, owner: object, **overrides: object) -> object:
    from strategies.sweeps.services import sweep_create

    data = {
        "name": f"bench {time.monotonic()}",
        "kind": "sma_crossover",
        "market": market,
        "timeframe": "1m",
        "start": YEAR_START,
        "end": YEAR_START + timedelta(minutes=MINUTES),
        "space": SPACE,
        "search": "random",
        "seed": 11,
        "objective": "sharpe",
        "chunk_size": 10,
    }
    data.update(overrides)
    return sweep_create(owner=owner, data=data)


def timed_sweep(
    market: object, owner: object, *, concurrency: int, sets: int, stop: int | None
) -> tuple[int, float, float, object]:
    """Sets done, seconds and the worker's CPU seconds from the sweep's creation (candle loads
    included) to `stop` sets done (then cancelled) or to its end."""
    from strategies.sweeps.services import sweep_cancel

    worker = Worker(concurrency)
    try:
        started = time.monotonic()
        sweep = sweep_new(market, owner, size=sets)
        if stop is None:
            wait(lambda: status(sweep.pk) == "done", 7200, "the sweep's end")
        else:
            wait(lambda: done(sweep.pk) >= stop, 7200, f"{stop} sets")
        seconds, count = time.monotonic() - started, done(sweep.pk)
        cpu = worker.cpu_seconds()
        if stop is not None:
            sweep_cancel(sweep=sweep)
    finally:
        worker.stop()
    print(
        f"{concurrency} process(es): {count} sets in {seconds:.1f} s, {cpu:.1f} CPU s", flush=True
    )
    return count, seconds, cpu, sweep


def samples_equal(sweep: object, count: int) -> int:
    """How many of `count` sampled sets have the figures and trades_hash of a single backtest
    (one candle load, with the most warmup any sample needs; a load with more warmup than a
    set needs gives the same result: tests/sweeps/test_sweep_workers.py, which also loads
    each set's own)."""
    from strategies.backtesting.candles import candles_load
    from strategies.backtesting.engine import BacktestSpec, backtest_run
    from strategies.ordering import MarketRules

    rows = random.Random(3).sample(list(sweep.sets.all()), count)
    warmup = max(row.parameters["slow"] for row in rows) + 1
    candles = candles_load(
        market_id=sweep.market_id, timeframe="1m", start=sweep.start, end=sweep.end, warmup=warmup
    )
    equal = 0
    for row in rows:
        spec = BacktestSpec(
            kind=sweep.kind,
            parameters=row.parameters,
            timeframe="1m",
            start=sweep.start,
            end=sweep.end,
            capital=sweep.capital,
            fee_rate=sweep.fee_rate,
            rules=MarketRules.from_market(sweep.market),
        )
        result = backtest_run(spec, candles)
        single = {**result.figures, "trades_hash": result.trades_hash}
        equal += single == row.figures
    return equal


def fault_kill(market: object, owner: object, sets: int) -> dict[str, object]:
    """SIGKILL one pool process when a third of the sets are done; Celery restarts it and the
    lost chunk is redelivered. Lost: sets never recorded; repeated: sets recorded twice."""
    from django.db.models import F, Sum

    worker = Worker(2)
    try:
        sweep = sweep_new(market, owner, size=sets, seed=12)
        wait(lambda: done(sweep.pk) >= sets // 3, 3600, "a third of the sets")
        os.kill(worker.children()[0], 9)
        wait(lambda: status(sweep.pk) == "done", 3600, "the sweep's end")
    finally:
        worker.stop()
    rows = sweep.sets.all()
    repeated = rows.aggregate(n=Sum(F("evaluations") - 1))["n"] or 0
    return {"fault_sets": sets, "lost": sets - done(sweep.pk), "repeated": repeated}


def fault_optuna(market: object, owner: object, trials: int) -> dict[str, object]:
    """A TPE study over a month: every worker process SIGKILLed after six completed trials,
    a new worker and `sweeps_resume`; trials_lost: completed trials not completed after."""
    from django.core.management import call_command

    worker = Worker(2)
    month = {"start": YEAR_START, "end": YEAR_START + timedelta(days=30)}
    try:
        sweep = sweep_new(market, owner, search="tpe", size=trials, seed=13, **month)
        wait(lambda: len(_completed(sweep)) >= 6, 3600, "six completed trials")
        worker.kill()
        before = _completed(sweep)
        worker = Worker(2)
        call_command("sweeps_resume", stdout=io.StringIO())
        wait(lambda: status(sweep.pk) == "done", 3600, "the study's end")
    finally:
        worker.stop()
    after = _completed(sweep)
    lost = sum(after.get(number) != value for number, value in before.items())
    return {"trials": trials, "trials_done_at_stop": len(before), "trials_lost": lost}


def _completed(sweep: object) -> dict[int, float]:
    import optuna
    from optuna.trial import TrialState

    from strategies.sweeps.optimise import storage

    study = optuna.load_study(study_name=sweep.study_name, storage=storage())
    return {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    main()
