"""Exchanges, markets, candles, tickers, accounts and balances; the only home of ccxt."""
