"""Care plan documents (templates by pathway, versioned patient care plans) and consent."""

from __future__ import annotations

__all__: list[str] = []
