"""The audit trail of a patient for team admins, its CSV export, and the read-only admin of
the audit records."""

from __future__ import annotations

import csv
import io

import pytest
from auditlog.context import set_actor
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from rms.audit_trail import audit_trail, change_entries
from rms.audit_views import csv_safe
from rms.models import AccessEvent, Patient
from tests.factories import DiagnosisFactory, ObservationFactory, ResultFactory

pytestmark = pytest.mark.django_db


def audit_url(patient: Patient) -> str:
    return reverse("audit:patient", args=[patient.public_id])


def export_url(patient: Patient) -> str:
    return reverse("audit:patient_export", args=[patient.public_id])


def logged_in(client: Client, user) -> Client:  # type: ignore[no-untyped-def]
    client.force_login(user)
    return client


def test_a_team_admin_sees_who_viewed_and_changed_the_record(
    client: Client, team_admin, clinician, patient: Patient
) -> None:
    logged_in(client, clinician).get(reverse("rms:patient_detail", args=[patient.public_id]))
    with set_actor(clinician):
        diagnosis = DiagnosisFactory(patient=patient)
        diagnosis.stage = "T3N0M0"
        diagnosis.save()

    response = logged_in(client, team_admin).get(audit_url(patient))

    assert response.status_code == 200
    rows = [(e.user, e.action, e.what) for e in response.context["entries"]]
    assert ("clinician", "viewed", "record") in rows
    assert ("clinician", "created", "diagnosis") in rows
    assert ("clinician", "changed", "diagnosis") in rows
    changed = next(e for e in response.context["entries"] if e.action == "changed")
    assert changed.detail == "stage"
    # Opening the trail is itself logged.
    assert AccessEvent.objects.filter(user=team_admin, patient=patient, action="audit").exists()


def test_the_trail_keeps_deleted_items_and_items_reached_through_another(
    team_admin, patient: Patient, other_patient: Patient
) -> None:
    diagnosis = DiagnosisFactory(patient=patient)
    diagnosis.delete()
    result = ResultFactory(patient=patient)
    ObservationFactory(result=result)
    DiagnosisFactory(patient=other_patient)

    whats = [(e.action, e.what) for e in audit_trail(patient=patient)]

    assert ("deleted", "diagnosis") in whats
    assert ("created", "observation") in whats
    assert ("created", "result") in whats
    # Nothing of the other patient.
    other = {e.pk for e in change_entries(patient=other_patient)}
    assert other.isdisjoint({e.pk for e in change_entries(patient=patient)})


def test_the_trail_is_two_queries_however_many_items(
    team_admin, patient: Patient, django_assert_max_num_queries
) -> None:
    for _ in range(5):
        ObservationFactory(result=ResultFactory(patient=patient))
    with django_assert_max_num_queries(4):  # content types may be looked up once
        entries = audit_trail(patient=patient)
    assert len(entries) >= 10


@pytest.mark.parametrize("user", ["clinician", "viewer"])
def test_other_roles_of_the_team_are_refused_and_the_refusal_logged(
    client: Client, patient: Patient, user: str, request: pytest.FixtureRequest
) -> None:
    member = request.getfixturevalue(user)
    assert logged_in(client, member).get(audit_url(patient)).status_code == 403
    assert logged_in(client, member).get(export_url(patient)).status_code == 403
    assert (
        AccessEvent.objects.filter(
            user=member, patient=patient, outcome=AccessEvent.Outcome.DENIED
        ).count()
        == 2
    )


def test_a_team_admin_of_another_team_gets_404(client: Client, other_team, patient) -> None:
    from rms.models import Role
    from tests.factories import MembershipFactory, UserFactory

    outsider = UserFactory(username="outsider")
    MembershipFactory(user=outsider, team=other_team, role=Role.TEAM_ADMIN)

    assert logged_in(client, outsider).get(audit_url(patient)).status_code == 404
    assert logged_in(client, outsider).get(export_url(patient)).status_code == 404


def test_the_anonymous_are_sent_to_log_in(client: Client, patient: Patient) -> None:
    response = client.get(audit_url(patient))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_the_patient_page_links_to_the_trail_for_team_admins_only(
    client: Client, team_admin, clinician, patient: Patient
) -> None:
    page = reverse("rms:patient_detail", args=[patient.public_id])
    assert audit_url(patient) in logged_in(client, team_admin).get(page).content.decode()
    assert audit_url(patient) not in logged_in(client, clinician).get(page).content.decode()


def test_filters_by_user_and_date(client: Client, team_admin, clinician, patient) -> None:
    for _ in range(2):
        logged_in(client, clinician).get(reverse("rms:patient_detail", args=[patient.public_id]))
    logged_in(client, team_admin)

    by_clinician = client.get(audit_url(patient), {"user": clinician.pk}).context["entries"]
    assert {e.user for e in by_clinician} == {"clinician"}
    assert len(by_clinician) == 2
    none = client.get(audit_url(patient), {"date_to": "2000-01-01"}).context["entries"]
    assert none == []


def test_pages_follow_each_other_without_gaps_or_repeats(
    client: Client, team_admin, clinician, patient, monkeypatch
) -> None:
    monkeypatch.setattr("rms.audit_views.PAGE_SIZE", 3)
    for _ in range(4):
        logged_in(client, clinician).get(reverse("rms:patient_detail", args=[patient.public_id]))
    with set_actor(clinician):
        DiagnosisFactory(patient=patient)
    logged_in(client, team_admin)
    expected = [(e.source, e.id) for e in audit_trail(patient=patient, limit=100)]

    seen: list[tuple[str, int]] = []
    params: dict[str, str] = {}
    for _ in range(10):
        response = client.get(audit_url(patient), params)
        seen += [(e.source, e.id) for e in response.context["entries"]]
        if not response.context["older"]:
            break
        params = {"after": response.context["older"]}

    # The first page lists its own view first; the later pages' views are newer than the
    # cursor, so they never appear. Everything else comes once, in order.
    first_view = AccessEvent.objects.filter(user=team_admin, action="audit").earliest("at")
    assert seen == [("access", first_view.pk), *expected]


def test_the_csv_export_streams_the_trail_safe_for_spreadsheets_and_is_logged(
    client: Client, team_admin, patient: Patient
) -> None:
    with set_actor(team_admin):
        DiagnosisFactory(patient=patient)
    response = logged_in(client, team_admin).get(export_url(patient))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert str(patient.public_id) in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["time", "user", "action"]
    assert any(r[1] == "teamadmin" and r[2] == "created" for r in rows[1:])
    assert AccessEvent.objects.filter(
        user=team_admin, patient=patient, action="audit export"
    ).exists()


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("clinician", "clinician"),
    ],
)
def test_csv_cells_that_start_like_a_formula_are_made_inert(value: str, safe: str) -> None:
    assert csv_safe(value) == safe


def test_a_username_that_looks_like_a_formula_is_exported_inert(
    client: Client, team_admin, patient: Patient
) -> None:
    from tests.factories import MembershipFactory, UserFactory

    evil = UserFactory(username="=cmd")
    MembershipFactory(user=evil, team=patient.caseload_entries.get().team, role="clinician")
    logged_in(client, evil).get(reverse("rms:patient_detail", args=[patient.public_id]))

    response = logged_in(client, team_admin).get(export_url(patient))
    body = b"".join(response.streaming_content).decode()
    assert "'=cmd" in body
    assert ",=cmd" not in body


# --- the admin of the audit records ------------------------------------------------------


@pytest.mark.parametrize("model", ["auditlog_logentry", "rms_accessevent"])
def test_audit_records_are_read_only_in_admin_even_for_a_superuser(
    admin_client: Client, clinician, patient: Patient, model: str
) -> None:
    logged_in(Client(), clinician).get(reverse("rms:patient_detail", args=[patient.public_id]))
    DiagnosisFactory(patient=patient)
    row = (LogEntry if model == "auditlog_logentry" else AccessEvent).objects.first()
    assert row is not None

    assert admin_client.get(reverse(f"admin:{model}_changelist")).status_code == 200
    assert admin_client.get(reverse(f"admin:{model}_add")).status_code == 403
    change = admin_client.post(reverse(f"admin:{model}_change", args=[row.pk]), {})
    delete = admin_client.post(reverse(f"admin:{model}_delete", args=[row.pk]), {"post": "yes"})
    bulk = admin_client.post(
        reverse(f"admin:{model}_changelist"),
        {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"},
    )

    assert change.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert type(row).objects.filter(pk=row.pk).exists()
