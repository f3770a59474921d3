"""Routes of the strategy pages people look at (the admin and the API have their own)."""

from django.urls import path

from strategies import views
from strategies.backtesting import views as backtest_views
from strategies.market_fields import market_suggestions

app_name = "strategies"
urlpatterns = [
    path("<int:pk>/", views.strategy_page, name="page"),
    path("markets/", market_suggestions, name="market-suggestions"),
    path("<int:pk>/run-now/", views.strategy_page_run_now, name="run-now"),
    path("backtests/<int:pk>/", backtest_views.backtest_page, name="backtest-page"),
    path(
        "backtests/<int:pk>/to-strategy/",
        backtest_views.backtest_to_strategy,
        name="backtest-to-strategy",
    ),
]
