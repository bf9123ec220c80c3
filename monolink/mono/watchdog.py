"""A wall-clock limit on one HTTP exchange with Mono, headers and body included.

requests' read timeout bounds each wait for a byte, not the exchange: a Mono that sends its headers
and then a byte every few seconds holds the caller until gunicorn kills the worker. `watch(seconds)`
arms a timer; when it fires it shuts the socket of the exchange in flight, so the blocked read ends
at once, and `DeadlinePassed` replaces whatever error (or cut-short body) that read produced.

The socket is found through the connection pool: `mount(session)` gives the session an adapter
whose pools hand each connection they lend to the watch active in the borrowing thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from contextvars import ContextVar

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class DeadlinePassed(Exception):
    """The exchange was cut because its wall-clock limit passed."""


class Watch:
    def __init__(self, seconds: float):
        self.connections: list = []
        self.fired = threading.Event()
        self._timer = threading.Timer(max(0.0, seconds), self._cut)
        self._timer.daemon = True

    def _cut(self) -> None:
        self.fired.set()
        for conn in list(self.connections):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked recv; the pool drops the connection

    def check(self) -> None:
        if self.fired.is_set():
            raise DeadlinePassed


_active: ContextVar[Watch | None] = ContextVar("mono_watch", default=None)


@contextlib.contextmanager
def watch(seconds: float) -> Iterator[Watch]:
    current = Watch(seconds)
    token = _active.set(current)
    current._timer.start()
    try:
        yield current
    except (requests.RequestException, OSError):
        current.check()  # the cut caused it: say so
        raise
    finally:
        current._timer.cancel()
        _active.reset(token)


class _Lending:
    """Pool mixin: each connection lent out joins the borrowing thread's active watch."""

    def _get_conn(self, timeout=None):
        conn = super()._get_conn(timeout)
        current = _active.get()
        if current is not None:
            current.connections.append(conn)
        return conn


class _HTTPPool(_Lending, HTTPConnectionPool):
    pass


class _HTTPSPool(_Lending, HTTPSConnectionPool):
    pass


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


def mount(session: requests.Session) -> None:
    session.mount("https://", _Adapter())
    session.mount("http://", _Adapter())
