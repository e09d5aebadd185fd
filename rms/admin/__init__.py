"""Django admin of the core record (``record``) and of the inbound feed (``inbound``)."""

from __future__ import annotations

from rms.admin import accounts, audit, inbound, record

__all__ = ["accounts", "audit", "inbound", "record"]
