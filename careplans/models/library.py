"""Information packs of the resource library attached to pathway milestones, and what was shared."""

from __future__ import annotations

__all__: list[str] = []
