"""The /api/ routes: one router for every app's viewsets, plus the schema and its docs."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from marketdata import api as marketdata_api
from project.redoc import OfflineRedocView, redoc_bundle
from strategies import api as strategies_api
from strategies.backtesting import api as backtests_api
from tasks import api as tasks_api

router = DefaultRouter()
router.register("exchanges", marketdata_api.ExchangeViewSet, basename="exchange")
router.register("markets", marketdata_api.MarketViewSet, basename="market")
router.register("candles", marketdata_api.CandleViewSet, basename="candle")
router.register("accounts", marketdata_api.ExchangeAccountViewSet, basename="account")
router.register("balances", marketdata_api.BalanceViewSet, basename="balance")
router.register("strategies", strategies_api.StrategyViewSet, basename="strategy")
router.register("strategy-kinds", strategies_api.StrategyKindViewSet, basename="strategy-kind")
router.register("jobs", tasks_api.JobViewSet, basename="job")
router.register("backtests", backtests_api.BacktestViewSet, basename="backtest")

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", OfflineRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("redoc/redoc.standalone.js", redoc_bundle, name="api-redoc-bundle"),
    path("", include(router.urls)),
]
