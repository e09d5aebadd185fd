"""The MLLP listener's glue: each framed message is handed to ``receive`` in the thread that
serves its connection (``rms.mllp.server``).

The ORM is synchronous, and each connection's thread has a database connection of its own,
opened at its first message and closed as the connection ends; messages on one connection are
answered in order, messages on different connections in parallel, at most ``threads`` at once.
If ``receive`` raises (the database is down), the MLLP server closes the connection without an
acknowledgement and the sender sends the message again.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.contrib.auth.models import User
from django.db import close_old_connections, connections

from rms import services
from rms.inbound import senders
from rms.inbound.receive import receive
from rms.inbound.senders import Origin
from rms.mllp import Handler, MllpServer, PeerInfo
from rms.models import InboundMessage

# A connection thread's database connection is checked (Django's close_old_connections: drop it if
# it failed, is past CONN_MAX_AGE, or, with CONN_HEALTH_CHECKS, a SELECT 1 before its next
# use) before a message when the thread has been idle a while or not checked for some time,
# and after a message that raised; not around every message of a busy feed, where the check
# was a round trip a message. A connection that died between two busy messages fails the
# second, which is then not acknowledged, and the sender sends it again.
CHECK_AFTER_IDLE_S = 1.0
CHECK_AT_LEAST_EVERY_S = 10.0
_thread_state = threading.local()


def receive_in_thread(message: bytes, peer: PeerInfo, actor: SystemActor | None = None) -> bytes:
    """``receive`` for a connection's thread, on the thread's own database connection (never
    shared with another thread), checked as above."""
    now = time.monotonic()
    last_used = getattr(_thread_state, "last_used", None)
    last_checked = getattr(_thread_state, "last_checked", None)
    if (
        last_used is None
        or last_checked is None
        or now - last_used > CHECK_AFTER_IDLE_S
        or now - last_checked > CHECK_AT_LEAST_EVERY_S
    ):
        close_old_connections()
        _thread_state.last_checked = now
    try:
        return receive(
            raw=message,
            channel=InboundMessage.Channel.MLLP,
            peer=peer.host,
            actor=actor.get() if actor is not None else None,
            origin=Origin(
                address=peer.host, client_cert_cn=peer.client_cert_cn if peer.tls else None
            ),
        )
    except BaseException:
        close_old_connections()
        _thread_state.last_checked = time.monotonic()
        raise
    finally:
        _thread_state.last_used = time.monotonic()


class SystemActor:
    """The system user, looked up once per listener (on its first message) rather than once
    a message: the row is created once and never changes or goes away."""

    def __init__(self) -> None:
        self._user: User | None = None
        self._lock = threading.Lock()

    def get(self) -> User:
        with self._lock:
            if self._user is None:
                self._user = services.system_user()
            return self._user


class KeptConnections:
    """How many connections' threads keep their database connection between messages: at
    most ``limit``. Beyond it a thread closes its database connection after each message, so
    however many MLLP connections are open, the listener holds at most ``limit`` database
    connections idle and ``limit`` more in use (``max_handlers``): as many as a pool of
    ``limit`` threads held, and a feed of a few connections keeps its own."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.kept = 0
        self._lock = threading.Lock()

    def after_message(self) -> None:
        if getattr(_thread_state, "kept", False):
            return
        with self._lock:
            if self.kept < self.limit:
                self.kept += 1
                _thread_state.kept = True
                return
        connections.close_all()

    def thread_exit(self) -> None:
        """As a connection's thread ends: its database connection is closed (an MLLP
        connection that has gone leaves none open behind it) and its place freed."""
        if getattr(_thread_state, "kept", False):
            with self._lock:
                self.kept -= 1
            _thread_state.kept = False
        connections.close_all()


def make_handler(kept: KeptConnections | None = None) -> Handler:
    actor = SystemActor()

    def handler(message: bytes, peer: PeerInfo) -> bytes:
        try:
            return receive_in_thread(message, peer, actor)
        finally:
            if kept is not None:
                kept.after_message()

    return handler


def build_listener(
    host: str,
    port: int,
    *,
    threads: int = 8,
    ssl_context: ssl.SSLContext | None = None,
    allowed_networks: Iterable[str] | None = None,
) -> MllpServer:
    """An MLLP server wired to ``receive`` with the limits from settings: at most ``threads``
    messages processed at once. In production it refuses to be built without
    ``MLLP_SENDERS`` (``senders.check_listener_may_start``)."""
    senders.check_listener_may_start()
    kept = KeptConnections(max(1, threads))
    return MllpServer(
        make_handler(kept),
        host,
        port,
        max_message_bytes=settings.MLLP_MAX_MESSAGE_BYTES,
        idle_timeout_s=settings.MLLP_IDLE_TIMEOUT_S,
        max_connections=settings.MLLP_MAX_CONNECTIONS,
        max_connections_per_address=settings.MLLP_MAX_CONNECTIONS_PER_ADDRESS,
        frame_timeout_s=settings.MLLP_FRAME_TIMEOUT_S,
        ssl_context=ssl_context,
        allowed_networks=allowed_networks,
        max_handlers=max(1, threads),
        on_thread_exit=kept.thread_exit,
    )
