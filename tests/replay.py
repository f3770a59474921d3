"""A replay server on loopback: answers an exchange's real paths with recorded payloads.

Each fixture in tests/fixtures/exchanges/ lists routes (method, path, optional query subset)
and the body to answer, with the source of every payload. Anything else gets a 404 with an
HTML body, as a real exchange's front door would: a client that loses an API family's path
fails loudly. Signatures are not checked (the payloads were recorded, not computed), but every
request is kept so tests can see what was sent.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures" / "exchanges"
NOT_FOUND = b"<html><head><title>404 Not Found</title></head><body>Not Found</body></html>"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: str


@dataclass
class ReplayServer:
    routes: list[dict[str, Any]]
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def answer(self, request: Request) -> tuple[int, bytes, str]:
        self.requests.append(request)
        for route in self.routes:
            if route["method"] == request.method and route["path"] == request.path:
                wanted = route.get("query", {})
                if all(request.query.get(k) == v for k, v in wanted.items()):
                    body = json.dumps(route["body"]).encode()
                    return route.get("status", 200), body, "application/json"
        return 404, NOT_FOUND, "text/html"

    def sent(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]


def _handler_for(replay: ReplayServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self.reply("GET")

        def do_POST(self) -> None:
            self.reply("POST")

        def do_DELETE(self) -> None:
            self.reply("DELETE")

        def reply(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            status, payload, kind = replay.answer(Request(method, parts.path, query, body))
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
