"""`python -m marketdata.simulator`: the simulated exchange in the foreground."""

from __future__ import annotations

import argparse

from marketdata.simulator import __doc__ as usage
from marketdata.simulator.exchange import DEMO_ACCOUNT, SimulatedExchange


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m marketdata.simulator", description=usage)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="KEY:SECRET",
        help="an API key and secret it accepts (repeatable); default demo-key:demo-secret",
    )
    parser.add_argument("--markets", type=int, default=0, help="extra synthetic markets")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    options = parser.parse_args(argv)
    accounts = dict(pair.split(":", 1) for pair in options.account) or dict([DEMO_ACCOUNT])
    sim = SimulatedExchange(
        options.port, accounts, options.markets, options.latency, host=options.host
    )
    print(f"Simulated exchange (Bitstamp v2) on {sim.url}", flush=True)
    try:
        sim.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.server.server_close()


if __name__ == "__main__":
    main()
