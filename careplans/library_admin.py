"""Django admin of information packs."""

from __future__ import annotations
