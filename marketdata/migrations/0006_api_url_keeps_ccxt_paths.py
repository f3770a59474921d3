"""An `api_url` saved with a path (`http://127.0.0.1:8765/api`, as 0001's help text advised) is
rewritten to what the code has expected since it keeps ccxt's paths (see `legacy_api_url`)."""

from django.db import migrations


def forward(apps, schema_editor):
    from marketdata.exchanges.clients import ccxt_api_urls
    from marketdata.exchanges.endpoints import legacy_api_url
    from marketdata.exchanges.errors import ExchangeError

    exchanges = apps.get_model("marketdata", "Exchange")
    for exchange in exchanges.objects.exclude(api_url=""):
        try:
            api = ccxt_api_urls(exchange.ccxt_id)
        except ExchangeError:
            continue  # an exchange ccxt does not know: its requests fail either way
        converted = legacy_api_url(api, exchange.api_url)
        if converted is None:
            continue
        exchange.api_url, families = converted
        exchange.api_urls = {**families, **(exchange.api_urls or {})}
        exchange.save(update_fields=["api_url", "api_urls"])


class Migration(migrations.Migration):
    dependencies = [("marketdata", "0005_market_precision_mode")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
