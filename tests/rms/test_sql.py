"""``rms.sql.rows``: a model's rows read with a statement written once are the ORM's
instances, field by field, on SQLite (``RawQuerySet``) and on PostgreSQL (the driver's values
and each field's ``from_db_value``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db.models import Model

from careplans.models import ConsentRecord
from rms import sql
from rms.models import Appointment, Diagnosis, Document, Result, Team
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    PatientFactory,
    ResultFactory,
    TeamFactory,
    UserFactory,
)
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db


def fields_of(instance: Model) -> dict[str, object]:
    return {f.attname: getattr(instance, f.attname) for f in instance._meta.concrete_fields}


def same_as_the_orms(found: list[Model], expected: list[Model]) -> None:
    assert [fields_of(i) for i in found] == [fields_of(i) for i in expected]
    for instance in found:
        assert instance._state.adding is False
        assert instance._state.db == "default"


def test_each_kind_of_field_reads_as_the_orm_reads_it() -> None:
    """Dates, times with their zone, decimals, UUIDs, booleans, JSON, text and keys."""
    patient = PatientFactory()
    user = UserFactory()
    team = TeamFactory()
    ResultFactory(patient=patient, observed_at=dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC))
    DiagnosisFactory(patient=patient, diagnosed_on=dt.date(2023, 3, 1))
    AppointmentFactory(patient=patient)
    DocumentFactory(patient=patient)
    WorkItem.objects.create(
        kind=WorkItem.Kind.THRESHOLD_BREACH,
        patient=patient,
        team=team,
        title="PSA above threshold",
        explanation="PSA 0.3 ug/L",
        source="rule:1",
        dedupe_key="rule:1:sql",
        details={"value": "0.3", "nested": {"flags": ["H"]}, "n": 1.5},
        risk_of_self_harm=True,
        created_by=user,
    )
    ConsentRecord.objects.create(
        patient=patient,
        team=team,
        topic="Sharing with Patients Know Best",
        status="given",
        given_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        recorded_by=user,
    )
    for model in (Result, Diagnosis, Appointment, Document, WorkItem, ConsentRecord):
        expected = list(model._default_manager.filter(patient=patient).order_by("id"))
        assert expected, model
        same_as_the_orms(sql.rows(model, "patient_id = %s", [patient.pk], "id"), expected)
    item = sql.rows(WorkItem, "patient_id = %s", [patient.pk])[0]
    assert item.details == {"value": "0.3", "nested": {"flags": ["H"]}, "n": 1.5}
    result = sql.rows(Result, "patient_id = %s", [patient.pk])[0]
    assert result.observed_at == dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)


def test_the_order_and_the_limit_are_kept_and_no_row_is_an_empty_list() -> None:
    for name in ("Urology", "Breast", "Colorectal"):
        TeamFactory(name=name)
    assert [t.name for t in sql.rows(Team, "name <> %s", ["x"], "name", limit=2)] == [
        "Breast",
        "Colorectal",
    ]
    assert sql.rows(Team, "name = %s", ["No such team"]) == []


def test_a_decimal_value_stays_a_decimal() -> None:
    from rms.models import Observation

    result = ResultFactory()
    Observation.objects.create(
        result=result,
        sequence=1,
        code="2857-1",
        name="PSA",
        code_system="LN",
        value_text="0.25",
        value_numeric=Decimal("0.25"),
        value_type="NM",
        observed_at=result.observed_at,
    )
    found = sql.rows(Observation, "result_id = %s", [result.pk])
    same_as_the_orms(found, list(Observation.objects.filter(result=result)))
    assert found[0].value_numeric == Decimal("0.25")
    assert isinstance(found[0].value_numeric, Decimal)


def test_reads_together_are_each_what_the_orm_reads_in_their_order() -> None:
    """Several reads sent together (one query on PostgreSQL) give each read's own rows, as
    the ORM's instances, in the order asked; a read with no row is an empty list."""
    patient, other = PatientFactory(), PatientFactory()
    for someone in (patient, other):
        ResultFactory(patient=someone)
        ResultFactory(patient=someone)
        DocumentFactory(patient=someone)
    for name in ("Urology", "Breast", "Colorectal"):
        TeamFactory(name=name)
    results, documents, teams, nothing = sql.rows_together(
        [
            (Result, "patient_id = %s", [patient.pk], "id DESC"),
            (Document, "patient_id = %s", [other.pk]),
            (Team, "name <> %s", ["x"], "name", 2),
            (Appointment, "patient_id = %s", [patient.pk]),
        ]
    )
    same_as_the_orms(results, list(Result.objects.filter(patient=patient).order_by("-id")))
    same_as_the_orms(documents, list(Document.objects.filter(patient=other)))
    assert [team.name for team in teams] == ["Breast", "Colorectal"]
    assert nothing == []
