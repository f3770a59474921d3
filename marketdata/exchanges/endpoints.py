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


def legacy_api_url(api: Any, old: str) -> tuple[str, dict[str, str]] | None:
    """Today's `(api_url, api_urls)` for an `api_url` saved before they kept ccxt's paths, when
    every API family's base was that URL as written (`http://127.0.0.1:8765/api`, as the first
    migration's help text advised). None: no path, nothing to change.

    Where every family of `api` (ccxt's `urls['api']`) has that same path, the host alone does
    the same today; otherwise each family gets the old URL in `api_urls`, as before.
    """
    parts = urlsplit(old)
    path = parts.path.rstrip("/")
    if not path:
        return None
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    families = api if isinstance(api, dict) else {}
    paths = {urlsplit(url).path.rstrip("/") for url in families.values() if isinstance(url, str)}
    if paths == {path} or (isinstance(api, str) and urlsplit(api).path.rstrip("/") == path):
        return origin, {}
    if not families:
        return None
    return "", {family: old.rstrip("/") for family in families}
