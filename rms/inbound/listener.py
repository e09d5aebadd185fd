"""The MLLP listener's glue: each framed message is handed to ``receive`` in a worker thread.

The ORM is synchronous, so messages are processed on a thread pool (one database connection
per thread); messages on one connection are answered in order, messages on different
connections in parallel. If ``receive`` raises (the database is down), the MLLP server closes
the connection without an acknowledgement and the sender sends the message again.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections

from rms.inbound.receive import receive
from rms.mllp import Handler, MllpServer, PeerInfo
from rms.models import InboundMessage


def receive_in_thread(message: bytes, peer: PeerInfo) -> bytes:
    """``receive`` for a worker thread: its database connection is checked before and after
    (CONN_MAX_AGE, a restarted server), never shared with another thread."""
    close_old_connections()
    try:
        return receive(raw=message, channel=InboundMessage.Channel.MLLP, peer=peer.host)
    finally:
        close_old_connections()


def make_handler(executor: ThreadPoolExecutor) -> Handler:
    async def handler(message: bytes, peer: PeerInfo) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(executor, receive_in_thread, message, peer)

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
