"""The MLLP listener's glue: each framed message is handed to ``receive`` in the thread that
serves its connection (``rms.mllp.server``).

The ORM is synchronous, and each connection's thread has a database connection of its own,
opened at its first message and closed when the connection has been quiet a while
(``RELEASE_AFTER_IDLE_S``) or ends; messages on one connection are answered in order, messages
on different connections in parallel, at most ``threads`` at once.
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


# A connection's thread closes its database connection when its MLLP connection has been
# quiet this long after a message, and as it ends: a busy feed keeps its own, and quiet or
# closed connections hold none.
RELEASE_AFTER_IDLE_S = 5.0


def close_thread_connections() -> None:
    """Close this thread's database connection (the next message opens another)."""
    connections.close_all()


def make_handler() -> Handler:
    actor = SystemActor()

    def handler(message: bytes, peer: PeerInfo) -> bytes:
        return receive_in_thread(message, peer, actor)

    return handler


def build_listener(
    host: str,
    port: int,
    *,
    threads: int = 8,
    ssl_context: ssl.SSLContext | None = None,
    allowed_networks: Iterable[str] | None = None,
    release_after_idle_s: float = RELEASE_AFTER_IDLE_S,
) -> MllpServer:
    """An MLLP server wired to ``receive`` with the limits from settings: at most ``threads``
    messages processed at once. In production it refuses to be built without
    ``MLLP_SENDERS`` (``senders.check_listener_may_start``)."""
    senders.check_listener_may_start()
    return MllpServer(
        make_handler(),
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
        on_idle=close_thread_connections,
        on_idle_after_s=release_after_idle_s,
        on_thread_exit=close_thread_connections,
    )
