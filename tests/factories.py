"""factory_boy factories for the models every test area shares."""

from __future__ import annotations

import functools

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from marketdata.models import Exchange, ExchangeAccount, Market
from strategies.models import Strategy

PASSWORD = "correct horse battery staple"


@functools.cache
def password_hash() -> str:
    """The password hashed once per session: the production hasher's iterations make a hash
    cost a second under load, and nearly every factory makes a user."""
    return make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.LazyFunction(password_hash)


class ExchangeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Exchange
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"exchange-{n}")
    ccxt_id = "bitstamp"


class MarketFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Market

    exchange = factory.SubFactory(ExchangeFactory)
    base = "BTC"
    quote = "USD"
    symbol = factory.LazyAttribute(lambda m: f"{m.base}/{m.quote}")
    exchange_symbol = factory.LazyAttribute(lambda m: f"{m.base}{m.quote}".lower())


class ExchangeAccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExchangeAccount

    owner = factory.SubFactory(UserFactory)
    exchange = factory.SubFactory(ExchangeFactory)
    label = factory.Sequence(lambda n: f"account {n}")
    api_key = factory.Sequence(lambda n: f"key-{n:08d}")
    api_secret = factory.Sequence(lambda n: f"secret-{n:08d}")


class StrategyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Strategy

    owner = factory.SubFactory(UserFactory)
    name = factory.Sequence(lambda n: f"strategy {n}")
    market = factory.SubFactory(MarketFactory)
    timeframe = "1h"
    kind = "dca"
    parameters = factory.LazyFunction(dict)
    # Active, as a strategy that runs is; lifecycle tests start and stop through the services.
    is_active = True
