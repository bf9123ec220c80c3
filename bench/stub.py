"""A stand-in for Mono's API on 127.0.0.1 that answers after a delay (default 2 s).

The benchmark points MONO_API_BASE_URL at it, with a fake `test_sk_` key, so the real MonoClient is
used and any Mono call made while a webhook is being answered would show in the latency. The delay
can be changed while it runs (`POST /__bench/delay?seconds=0`), so the same app server measures
fast and slow Mono. Run alone: `python bench/stub.py --port 8765 --delay 2`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

_REAUTH = re.compile(r"^/accounts/([^/]+)/reauthorise$")
_ACCOUNT = re.compile(r"^(?:/v2)?/accounts/([^/]+)$")
_AUTH = re.compile(r"^(?:/v2/accounts|/account)/auth$")


class StubServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, delay: float):
        super().__init__(address, _Handler)
        self.delay = delay
        self.calls = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.calls += 1


class _Handler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # quiet: a line per call would dwarf the table
        pass

    def do_GET(self):
        self._answer("GET")

    def do_POST(self):
        self._answer("POST")

    def _answer(self, method: str) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        if url.path == "/__bench/delay" and method == "POST":
            self.server.delay = float(parse_qs(url.query).get("seconds", ["0"])[0])
            return self._send(200, {"delay": self.server.delay})
        if url.path == "/__bench/stats":
            return self._send(200, {"calls": self.server.calls, "delay": self.server.delay})
        self.server.count()
        time.sleep(self.server.delay)  # the point of the stub: Mono being slow
        if not self.headers.get("mono-sec-key"):
            return self._send(401, {"message": "No secret key"})
        if method == "POST" and (match := _REAUTH.match(url.path)):
            return self._send(200, {"token": f"bench-token-{uuid.uuid4().hex}"})
        if method == "POST" and _AUTH.match(url.path):
            return self._send(200, {"id": uuid.uuid4().hex[:24]})
        if method == "GET" and (match := _ACCOUNT.match(url.path)):
            return self._send(200, _account(match.group(1)))
        return self._send(404, {"message": "Not found"})

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _account(account_id: str) -> dict:
    return {
        "status": "successful",
        "message": "Request was succesfully completed",
        "data": {
            "account": {
                "id": account_id,
                "name": "BENCH ACCOUNT",
                "account_number": "0123456789",
                "currency": "NGN",
                "balance": 100000,
                "type": "SAVINGS_ACCOUNT",
                "institution": {"name": "Bench Bank", "bank_code": "999", "type": "PERSONAL_BANKING"},
            },
            "customer": {"id": "bench-customer"},
            "meta": {"data_status": "AVAILABLE", "auth_method": "internet_banking"},
        },
    }


def serve(port: int, delay: float) -> StubServer:
    """Start the stub in a background thread and return it (`.shutdown()` to stop)."""
    server = StubServer(("127.0.0.1", port), delay)
    threading.Thread(target=server.serve_forever, name="mono-stub", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--delay", type=float, default=2.0)
    args = parser.parse_args()
    server = StubServer(("127.0.0.1", args.port), args.delay)
    print(f"slow Mono stub on http://127.0.0.1:{args.port} (delay {args.delay} s)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
