"""Django admin of questionnaires and their responses."""

from __future__ import annotations
