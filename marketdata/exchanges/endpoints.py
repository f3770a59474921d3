"""Where a client's requests go: ccxt's own URLs, its testnet, or an override of ours."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from marketdata.exchanges.errors import ExchangeError


def rebase_url(url: str, base: str) -> str:
    """`url` with the scheme, host and port of `base`; a path in `base` goes in front of
    `url`'s own path (a proxy mounted under a prefix). `{hostname}` placeholders in the host
    go with it."""
    theirs, ours = urlsplit(url), urlsplit(base)
    path = ours.path.rstrip("/") + theirs.path
    return urlunsplit((ours.scheme, ours.netloc, path, theirs.query, theirs.fragment))


def rebased(api: Any, base: str) -> Any:
    """ccxt's `urls['api']` (a URL or a nested mapping of them) with every URL rebased."""
    if isinstance(api, dict):
        return {family: rebased(url, base) for family, url in api.items()}
    return rebase_url(api, base) if isinstance(api, str) else api


def sandbox_enable(client: Any) -> None:
    """ccxt's own testnet URLs (`set_sandbox_mode`); a clear error where ccxt has none."""
    try:
        client.set_sandbox_mode(True)
    except Exception as error:  # ccxt raises NotSupported, Kraken a TypeError
        raise ExchangeError(
            f"ccxt knows no testnet (sandbox) for {client.id}: {type(error).__name__}"
        ) from error


def endpoints_apply(client: Any, *, sandbox: bool, api_url: str, api_urls: dict[str, str]) -> None:
    """Point the client: testnet first, then `api_url` over every API family, then the
    per-family `api_urls` (full URLs) for the rare family that lives elsewhere."""
    if sandbox:
        sandbox_enable(client)
    api = client.urls.get("api")
    if api_url:
        api = rebased(api, api_url)
    if api_urls:
        unknown = set(api_urls) - set(api if isinstance(api, dict) else ())
        if unknown:
            raise ExchangeError(
                f"{client.id} has no API families {sorted(unknown)}; "
                f"it has {sorted(api) if isinstance(api, dict) else 'one URL'}"
            )
        api = {**api, **api_urls}
    client.urls["api"] = api
