"""Models and migrations agree (the `makemigrations --check` of `make test`)."""

import io

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_a_migration() -> None:
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


OLD_API_URLS = [
    # (ccxt id, api_url saved before 0006, api_url after, api_urls after)
    ("bitstamp", "http://127.0.0.1:8765/api", "http://127.0.0.1:8765", {}),
    ("bitstamp", "http://127.0.0.1:8765/api/", "http://127.0.0.1:8765", {}),
    ("bitstamp", "http://127.0.0.1:8765", "http://127.0.0.1:8765", {}),  # no path: unchanged
    (
        "kraken",  # a proxy prefix no family has: each family keeps the old URL, as before
        "https://proxy.example/kraken",
        "",
        {
            "public": "https://proxy.example/kraken",
            "private": "https://proxy.example/kraken",
            "zendesk": "https://proxy.example/kraken",
        },
    ),
]


@pytest.mark.django_db(transaction=True)
def test_an_old_api_url_with_a_path_is_migrated_to_what_the_clients_expect() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    from marketdata.exchanges.clients import ccxt_api_urls
    from marketdata.exchanges.endpoints import rebased
    from marketdata.models import Exchange

    before = [("marketdata", "0005_market_precision_mode")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps.get_model("marketdata", "Exchange")
    for index, (ccxt_id, url, _, _) in enumerate(OLD_API_URLS):
        old.objects.create(name=f"old-{index}", ccxt_id=ccxt_id, api_url=url)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    for index, (_, _, api_url, api_urls) in enumerate(OLD_API_URLS):
        exchange = Exchange.objects.get(name=f"old-{index}")
        assert (exchange.api_url, exchange.api_urls) == (api_url, api_urls)
    # The simulator's value reaches the same URLs as before: every family at .../api.
    simulator = rebased(ccxt_api_urls("bitstamp"), Exchange.objects.get(name="old-0").api_url)
    assert set(simulator.values()) == {"http://127.0.0.1:8765/api"}
