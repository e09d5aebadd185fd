"""MLLP transport for inbound HL7 v2: framing, an asyncio listener and a blocking client.

Transport only: it never parses HL7 and never touches the database. The listener hands each
message to an injected async handler and writes back whatever ACK bytes the handler returns.
"""

from __future__ import annotations

from rms.mllp.client import MllpClient, MllpConnectionError, MllpProtocolError, MllpTimeout
from rms.mllp.framing import FrameDecoder, FrameTooLarge, MllpError, frame
from rms.mllp.server import Handler, MllpServer, PeerInfo, build_server_ssl_context

__all__ = [
    "FrameDecoder",
    "FrameTooLarge",
    "Handler",
    "MllpClient",
    "MllpConnectionError",
    "MllpError",
    "MllpProtocolError",
    "MllpServer",
    "MllpTimeout",
    "PeerInfo",
    "build_server_ssl_context",
    "frame",
]
