"""Django admin of care plan templates, care plans and consent records."""

from __future__ import annotations
