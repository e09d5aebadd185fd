"""The inbound HL7 v2 feed: storing, matching and filing messages from the Trust's systems.

``receive`` is the one entry point for the MLLP listener and the API; ``inbound_reprocess``
is how an administrator files a held or refused message after a fix.
"""

from __future__ import annotations

from rms.inbound.receive import inbound_reprocess, read_header, receive

__all__ = ["inbound_reprocess", "read_header", "receive"]
