"""The "no view reads a patient data model's manager" lint (scripts/check_view_reads.py, run
by ``make lint``): it finds a view that does, and the tree as it stands has none."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_view_reads", ROOT / "scripts/check_view_reads.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_patient_data_models_are_the_patient_and_what_points_at_it(lint) -> None:
    models = lint.patient_data_models()
    assert {"Patient", "Result", "WorkItem", "FollowUpPlan", "Enrolment"} <= models
    assert "Team" not in models and "Outcome" not in models


def test_it_finds_a_view_that_reads_patients_itself(lint) -> None:
    source = (
        "from rms.models import Patient, Team\n"
        "def page(request):\n"
        "    teams = Team.objects.all()\n"
        "    return Patient.objects.filter(nhs_number=request.GET['q'])\n"
    )
    [offence] = lint.offences(source, path="worklists/views.py", models={"Patient"})
    assert (offence.line, offence.model) == (4, "Patient")
    assert "through the app's selectors" in str(offence)


def test_a_justified_read_is_listed_with_its_module_only(lint) -> None:
    source = "x = CaseloadEntry.objects.filter(ended_on__isnull=True)\n"
    models = {"CaseloadEntry"}
    assert lint.offences(source, path="rms/views.py", models=models) == []
    assert len(lint.offences(source, path="clinic/views.py", models=models)) == 1


def test_no_view_of_the_tree_reads_patient_data_itself(lint) -> None:
    found = lint.check(lint.view_modules(), models=lint.patient_data_models())
    assert [str(o) for o in found] == []
    assert any(p.name == "views.py" for p in lint.view_modules())
