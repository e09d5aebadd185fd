"""The MLLP listener's glue: each framed message is handed to ``receive`` in a worker thread.

The ORM is synchronous, so messages are processed on a thread pool (one database connection
per thread); messages on one connection are answered in order, messages on different
connections in parallel. If ``receive`` raises (the database is down), the MLLP server closes
the connection without an acknowledgement and the sender sends the message again.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth.models import User
from django.db import close_old_connections

from rms import services
from rms.inbound.receive import receive
from rms.mllp import Handler, MllpServer, PeerInfo
from rms.models import InboundMessage


def receive_in_thread(message: bytes, peer: PeerInfo, actor: SystemActor | None = None) -> bytes:
    """``receive`` for a worker thread: its database connection is checked before and after
    (CONN_MAX_AGE, a restarted server), never shared with another thread."""
    close_old_connections()
    try:
        return receive(
            raw=message,
            channel=InboundMessage.Channel.MLLP,
            peer=peer.host,
            actor=actor.get() if actor is not None else None,
        )
    finally:
        close_old_connections()


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


def make_handler(executor: ThreadPoolExecutor) -> Handler:
    actor = SystemActor()

    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, receive_in_thread, message, peer, actor)

    return handler


def build_listener(
    host: str,
    port: int,
    *,
    threads: int = 8,
    ssl_context: ssl.SSLContext | None = None,
    allowed_networks: Iterable[str] | None = None,
) -> tuple[MllpServer, ThreadPoolExecutor]:
    """An MLLP server wired to ``receive`` with the limits from settings, and its thread pool
    (shut it down after closing the server)."""
    executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="mllp-worker")
    server = MllpServer(
        make_handler(executor),
        host,
        port,
        max_message_bytes=settings.MLLP_MAX_MESSAGE_BYTES,
        idle_timeout_s=settings.MLLP_IDLE_TIMEOUT_S,
        max_connections=settings.MLLP_MAX_CONNECTIONS,
        ssl_context=ssl_context,
        allowed_networks=allowed_networks,
    )
    return server, executor
