"""MLLP transport for inbound HL7 v2: framing and a listener serving each connection in a
thread of its own.

Transport only: it never parses HL7 and never touches the database. The listener hands each
message to an injected handler, in the connection's thread, and writes back whatever ACK bytes
the handler returns.
"""

from __future__ import annotations

from rms.mllp.framing import FrameDecoder, FrameTooLarge, MllpError, frame
from rms.mllp.server import Handler, MllpServer, PeerInfo, build_server_ssl_context

__all__ = [
    "FrameDecoder",
    "FrameTooLarge",
    "Handler",
    "MllpError",
    "MllpServer",
    "PeerInfo",
    "build_server_ssl_context",
    "frame",
]
