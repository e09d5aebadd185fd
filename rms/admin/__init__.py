"""Django admin of the core record (``record``) and of the inbound feed (``inbound``)."""

from __future__ import annotations

from rms.admin import inbound, record

__all__ = ["inbound", "record"]
