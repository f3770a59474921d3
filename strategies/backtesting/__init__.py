"""Backtests: the live path of a strategy replayed over stored candles, tick by tick."""
