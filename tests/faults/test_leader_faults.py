"""The APScheduler leader killed while a live run waits for its order's answer: the standby
takes over, the strategy's next tick settles the lost run from the exchange's order book, and
the strategy trades on."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import timedelta

from django.utils import timezone

from marketdata.models import ExchangeAccount, Market
from marketdata.simulator import SimulatedExchange
from strategies.models import Order, Strategy, StrategyRun
from tests.faults.helpers import FAULTS, order_book, recorded_orders, runs_described
from tests.processes import ManagedProcess, start_run_scheduler, wait_for
from tests.scheduling.fixtures import clear_apscheduler_store
from tests.strategies.helpers import live_dca

pytestmark = FAULTS

EVERY = 10  # seconds between the strategy's ticks
HANDOVER = timedelta(seconds=15)  # the standby's documented take-over limit
RUNNING = StrategyRun.Status.RUNNING


def leader_of(processes: list[ManagedProcess]) -> ManagedProcess:
    return wait_for(
        lambda: next((p for p in processes if "APScheduler leads" in p.log()), None),
        what="a leader",
    )


def test_the_apscheduler_leader_killed_mid_live_run_is_settled_within_an_interval_and_trades_on(
    btc: Market, account: ExchangeAccount, simulator: SimulatedExchange
) -> None:
    simulator.add_fault("slow_create", delay=60)  # the first order's answer never comes back
    strategy = live_dca(btc, account, interval_seconds=EVERY)
    processes = [start_run_scheduler(), start_run_scheduler()]
    try:
        leader = leader_of(processes)
        wait_for(lambda: simulator.requests("/v2/buy/"), timeout=90, what="the order to leave")
        lost = StrategyRun.objects.get(strategy=strategy, status=RUNNING)
        leader.kill(signal.SIGKILL)
        killed_at = timezone.now()
        settled = wait_for(
            lambda: StrategyRun.objects.exclude(status=RUNNING).filter(pk=lost.pk).first(),
            timeout=90,
            what="the lost run to be settled",
        )
        settled_at = timezone.now()
        wait_for(
            lambda: StrategyRun.objects.filter(
                strategy=strategy, scheduled_tick__gt=lost.scheduled_tick, finished_at__isnull=False
            ).exists(),
            timeout=60,
            what="the next tick to run",
        )
        Strategy.objects.filter(pk=strategy.pk).update(is_active=False)
        wait_for(
            lambda: not StrategyRun.objects.filter(strategy=strategy, status=RUNNING).exists(),
            timeout=60,
            what="the last run to end",
        )
    finally:
        for process in processes:
            process.stop()
        clear_apscheduler_store()

    book = order_book(simulator, strategy)
    lost_order = Order.objects.get(run=lost)
    with simulator.lock:
        sent = Counter(order.client_order_id for order in simulator.orders)
    assert settled.status == StrategyRun.Status.SUCCEEDED, runs_described(strategy)
    assert settled_at - killed_at <= HANDOVER + timedelta(seconds=EVERY), runs_described(strategy)
    recorded = recorded_orders(strategy)
    assert recorded[lost_order.client_order_id] == book[lost_order.client_order_id]
    assert recorded == book
    assert max(sent.values()) == 1  # no client order id sent twice
    later = StrategyRun.objects.filter(strategy=strategy, scheduled_tick__gt=lost.scheduled_tick)
    assert later.filter(status=StrategyRun.Status.SUCCEEDED).exists(), runs_described(strategy)
