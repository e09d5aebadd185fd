"""PKB_CONSENT_DOCUMENT_TYPE: read strictly from the environment over the document types."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from rms.env import Env
from rms.models import Document

SETTINGS = Path(__file__).resolve().parents[3] / "rms" / "settings.py"


def _choices_in_settings() -> list[str]:
    tree = ast.parse(SETTINGS.read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "PKB_CONSENT_DOCUMENT_TYPE"
        ):
            return list(ast.literal_eval(node.args[1]))
    raise AssertionError("PKB_CONSENT_DOCUMENT_TYPE is not read in rms/settings.py")


def test_the_choices_are_the_document_types():
    assert _choices_in_settings() == list(Document.DocumentType.values)


def test_the_default_is_a_clinic_letter():
    assert settings.PKB_CONSENT_DOCUMENT_TYPE == "CL"


def test_a_value_that_is_not_a_document_type_stops_start_up(monkeypatch):
    monkeypatch.setenv("PKB_CONSENT_DOCUMENT_TYPE", "XX")
    with pytest.raises(ImproperlyConfigured, match="PKB_CONSENT_DOCUMENT_TYPE"):
        Env().choice("PKB_CONSENT_DOCUMENT_TYPE", _choices_in_settings(), default="CL")
