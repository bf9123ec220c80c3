"""The deadline bounds a whole call to Mono by the wall clock, against a real trickling server.

A local socket server (a thread) answers like a Mono that has trouble: headers at once and then a
byte of the body every half second, or the headers themselves a byte at a time. Each byte comes well
within the read timeout, so only a wall-clock limit ends the call.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from monolink.mono import MonoUnavailable
from monolink.mono.client import MonoClient
from monolink.mono.types import Deadline

DEADLINE = 1.5
MUST_RETURN_BEFORE = 3.5  # the deadline plus a generous margin for a loaded machine
BYTE_EVERY = 0.5  # well under the read timeout: no single read ever times out
BODY = b'{"id": "60cc8f95ba1772018c5c6b1d", "status": "ok"}'  # 50 bytes: 25 s at this pace


class TricklingMono:
    """Accepts connections and answers each request with `head`, then `trickled` a byte at a time."""

    def __init__(self, head: bytes, trickled: bytes):
        self.head, self.trickled = head, trickled
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.stopping = threading.Event()
        self.served = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    request += conn.recv(65536) or b"\r\n\r\n"
                self.served += 1
                conn.sendall(self.head)
                for byte in self.trickled:
                    if self.stopping.wait(BYTE_EVERY):
                        return
                    conn.sendall(bytes([byte]))
            except OSError:
                return  # the client hung up: what the deadline is for

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()


HEADERS = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n".encode()


@pytest.fixture(params=["body", "headers"])
def trickling_mono(request):
    if request.param == "body":  # the case: headers at once, then the body a byte at a time
        server = TricklingMono(head=HEADERS, trickled=BODY)
    else:  # the status line at once, the headers a byte at a time
        server = TricklingMono(head=b"HTTP/1.1 200 OK\r\n", trickled=HEADERS.split(b"\r\n", 1)[1] + BODY)
    yield server
    server.stop()


def client_for(server: TricklingMono) -> MonoClient:
    # Read timeout 10 s: each byte arrives within it, as in production (MONO_READ_TIMEOUT 15 s).
    return MonoClient(secret_key="test_sk_deadline", base_url=server.url, api_version="v2", timeout=(3.05, 10))


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda mono, deadline: mono.exchange_code("widget-code", deadline=deadline), id="exchange_code"),
        pytest.param(lambda mono, deadline: mono.get_account("60cc8f95ba1772018c5c6b1d", deadline=deadline), id="get"),
    ],
)
def test_a_trickling_mono_is_cut_off_at_the_deadline(trickling_mono, call):
    started = time.monotonic()

    with pytest.raises(MonoUnavailable, match="within the deadline") as raised:
        call(client_for(trickling_mono), Deadline.after(DEADLINE))

    elapsed = time.monotonic() - started
    assert DEADLINE - 0.1 <= elapsed < MUST_RETURN_BEFORE, f"returned after {elapsed:.2f} s"
    assert trickling_mono.served == 1  # no retry once the time is up
    assert "test_sk_deadline" not in str(raised.value)


def test_a_quick_answer_from_the_same_server_is_unaffected():
    server = TricklingMono(head=HEADERS + BODY, trickled=b"")
    try:
        assert client_for(server).exchange_code("widget-code", deadline=Deadline.after(DEADLINE)) == (
            "60cc8f95ba1772018c5c6b1d"
        )
    finally:
        server.stop()
