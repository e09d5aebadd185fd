from __future__ import annotations

import pytest
from django.contrib.admin.sites import site
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from rms.models import (
    AccessEvent,
    Diagnosis,
    Document,
    DomainEvent,
    InboundMessage,
    Patient,
    Result,
    Role,
    Team,
)
from tests.factories import (
    DocumentFactory,
    MembershipFactory,
    PatientFactory,
    ResultFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PDF_BYTES = b"%PDF-1.4\n%%EOF\n"


def change_url(obj) -> str:
    return reverse(f"admin:rms_{obj._meta.model_name}_change", args=[obj.pk])


def changelist_url(model) -> str:
    return reverse(f"admin:rms_{model._meta.model_name}_changelist")


@pytest.fixture
def staff(team):
    """A staff user who is a team admin of ``team`` (not a superuser), with the model
    permissions an administrator would grant."""
    user = UserFactory(username="staff", is_staff=True)
    MembershipFactory(user=user, team=team, role=Role.TEAM_ADMIN)
    codenames = [
        f"{action}_{model}"
        for model in (
            "patient",
            "team",
            "caseloadentry",
            "accessevent",
            "diagnosis",
            "inboundmessage",
        )
        for action in ("view", "add", "change", "delete")
    ]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def admin_form_data(response) -> dict[str, object]:
    """What the browser would post back from an admin change page, unchanged."""
    data: dict[str, object] = {}

    def add(form) -> None:
        for name in form.fields:
            value = form[name].value()
            if value is None:
                value = ""
            if isinstance(value, bool):
                if value:
                    data[form.add_prefix(name)] = "on"
                continue
            data[form.add_prefix(name)] = value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        add(formset.management_form)
        for form in formset.forms:
            add(form)
    return data


# ---------------------------------------------------------------------------
# Who sees which patients
# ---------------------------------------------------------------------------
def test_a_superuser_sees_every_patient(admin_client, patient, other_patient) -> None:
    response = admin_client.get(changelist_url(Patient))
    assertContains(response, patient.family_name.upper())
    assertContains(response, other_patient.family_name.upper())
    assertContains(response, patient.nhs_number_display)


def test_a_staff_member_sees_only_their_teams_patients(
    client, staff, patient, other_patient
) -> None:
    client.force_login(staff)
    response = client.get(changelist_url(Patient))
    assertContains(response, change_url(patient))
    assertNotContains(response, change_url(other_patient))
    assertNotContains(response, other_patient.family_name.upper())


def test_a_staff_member_cannot_open_another_teams_patient(client, staff, other_patient) -> None:
    client.force_login(staff)
    response = client.get(change_url(other_patient))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert not AccessEvent.objects.exists()


def test_opening_a_patient_in_admin_is_written_to_the_access_log(client, staff, patient) -> None:
    client.force_login(staff)
    assert client.get(change_url(patient)).status_code == 200
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.channel, event.action) == (
        staff,
        patient,
        "admin",
        "record",
    )


def test_a_staff_member_sees_only_their_own_teams(client, staff, team, other_team) -> None:
    client.force_login(staff)
    response = client.get(changelist_url(Team))
    assertContains(response, change_url(team))
    assertNotContains(response, change_url(other_team))


def test_a_team_switches_radiology_report_review_in_admin(admin_client, team) -> None:
    """The team setting of careplans.followup.services.radiology: on by default, set in admin."""
    response = admin_client.get(change_url(team))
    assertContains(response, 'name="review_radiology_reports"')
    assertContains(response, "Review radiology reports")
    assert admin_client.get(changelist_url(Team)).status_code == 200


def test_a_staff_member_sees_only_their_teams_access_events(
    client, staff, patient, other_patient, clinician, other_team_clinician
) -> None:
    mine = AccessEvent.objects.create(user=clinician, patient=patient, action="record")
    theirs = AccessEvent.objects.create(
        user=other_team_clinician, patient=other_patient, action="record"
    )
    client.force_login(staff)
    response = client.get(changelist_url(AccessEvent))
    assertContains(response, change_url(mine))
    assertNotContains(response, change_url(theirs))


@pytest.mark.parametrize("term", ["943 476 5919", "9434765919", "943 476", "RXX0042", "dent"])
def test_patients_are_found_by_nhs_number_with_spaces_mrn_or_name(admin_client, team, term) -> None:
    wanted = PatientFactory(
        nhs_number="9434765919", mrn="RXX0042", family_name="Dent", teams=[team]
    )
    unwanted = PatientFactory(family_name="Prefect", teams=[team])
    # Holds 943, 476 and 5919 apart: found if the words were matched one by one.
    decoy = PatientFactory(nhs_number="5919476943", family_name="Marvin", teams=[team])
    response = admin_client.get(changelist_url(Patient), {"q": term})
    assertContains(response, change_url(wanted))
    assertNotContains(response, change_url(unwanted))
    assertNotContains(response, change_url(decoy))


# ---------------------------------------------------------------------------
# Changing patients goes through the services
# ---------------------------------------------------------------------------
def test_a_patient_change_in_admin_goes_through_the_service(client, staff, patient) -> None:
    client.force_login(staff)
    data = admin_form_data(client.get(change_url(patient)))
    data.update(family_name="Beeblebrox", nhs_number=patient.nhs_number_display)
    response = client.post(change_url(patient), data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.family_name == "Beeblebrox"
    changes = DomainEvent.objects.filter(kind=DomainEvent.Kind.PATIENT_CHANGED, patient=patient)
    assert [event.payload["changed_fields"] for event in changes] == [["family_name"]]


def test_a_change_the_service_would_refuse_is_a_form_error(client, staff, patient) -> None:
    client.force_login(staff)
    data = admin_form_data(client.get(change_url(patient)))
    # The patient's status is 01 (verified); a verified status needs an NHS number.
    data.update(nhs_number="")
    response = client.post(change_url(patient), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "Status 01 (verified) needs an NHS number." in form.non_field_errors()
    patient.refresh_from_db()
    assert patient.nhs_number


def test_admin_cannot_change_the_nhs_number_status(client, staff, patient) -> None:
    """Issue 19, defect 5: the status is a team admin's change with a reason (the patient
    page and the API), or the PAS feed's; admin shows it read-only."""
    client.force_login(staff)
    data = admin_form_data(client.get(change_url(patient)))
    data.update(nhs_number_status="04")
    response = client.post(change_url(patient), data)
    assert response.status_code == 302
    patient.refresh_from_db()
    assert patient.nhs_number_status == "01"


def test_a_staff_member_cannot_add_or_delete_patients_even_with_the_permission(
    client, staff, patient
) -> None:
    client.force_login(staff)
    assert client.get(reverse("admin:rms_patient_add")).status_code == 403
    delete_url = reverse("admin:rms_patient_delete", args=[patient.pk])
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert Patient.objects.filter(pk=patient.pk).exists()


def test_a_diagnosis_added_in_admin_goes_through_the_service(admin_client, patient) -> None:
    response = admin_client.post(
        reverse("admin:rms_diagnosis_add"),
        {
            "patient": patient.pk,
            "code": "399068003",
            "code_system": "SNOMED CT",
            "text": "Malignant tumour of prostate",
            "diagnosed_on": "2024-02-01",
            "tumour_site": "prostate",
            "stage": "T2N0M0",
            "status": "active",
        },
    )
    diagnosis = Diagnosis.objects.get()
    assert response.status_code == 302
    assert response["Location"] == changelist_url(Diagnosis)
    assert diagnosis.patient == patient
    changes = DomainEvent.objects.filter(kind=DomainEvent.Kind.DIAGNOSES_CHANGED)
    assert [(e.patient_id, e.subject_id) for e in changes] == [(patient.pk, diagnosis.pk)]


def test_a_staff_member_cannot_attach_a_diagnosis_to_another_teams_patient(
    client, staff, other_patient
) -> None:
    client.force_login(staff)
    response = client.post(
        reverse("admin:rms_diagnosis_add"),
        {
            "patient": other_patient.pk,
            "code": "399068003",
            "code_system": "SNOMED CT",
            "text": "Malignant tumour of prostate",
            "diagnosed_on": "2024-02-01",
            "status": "active",
        },
    )
    assert response.status_code == 200
    assert "patient" in response.context["adminform"].form.errors
    assert not Diagnosis.objects.exists()


# ---------------------------------------------------------------------------
# Read-only models
# ---------------------------------------------------------------------------
def test_the_access_log_cannot_be_added_changed_or_deleted_even_by_a_superuser(
    admin_client, admin_user, patient, clinician
) -> None:
    event = AccessEvent.objects.create(user=clinician, patient=patient, action="record")
    request = RequestFactory().get("/")
    request.user = admin_user
    model_admin = site._registry[AccessEvent]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, event)
    assert not model_admin.has_delete_permission(request, event)
    assert admin_client.get(changelist_url(AccessEvent)).status_code == 200
    assert admin_client.get(reverse("admin:rms_accessevent_add")).status_code == 403
    assert admin_client.post(change_url(event), {"action": "edited"}).status_code == 403
    delete_url = reverse("admin:rms_accessevent_delete", args=[event.pk])
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    event.refresh_from_db()
    assert event.action == "record"


def test_results_from_the_feeds_are_view_only(admin_client, patient) -> None:
    result = ResultFactory(patient=patient)
    assert admin_client.get(change_url(result)).status_code == 200
    assert admin_client.get(reverse("admin:rms_result_add")).status_code == 403
    assert admin_client.post(change_url(result), {"status": "deleted"}).status_code == 403
    result.refresh_from_db()
    assert result.status == Result.Status.FINAL


def test_a_documents_pdf_bytes_are_not_in_the_admin_form(admin_client, patient) -> None:
    document = DocumentFactory(
        patient=patient,
        content_type=Document.ContentType.PDF,
        content_html="",
        content_pdf=PDF_BYTES,
    )
    response = admin_client.get(change_url(document))
    assert response.status_code == 200
    assertNotContains(response, "content_pdf")
    assertNotContains(response, "%PDF")


def test_an_unmatched_inbound_message_is_seen_by_superusers_only(
    admin_client, client, staff, patient
) -> None:
    unmatched = InboundMessage.objects.create(
        channel="mllp", raw=b"MSH|^~\\&|WINPATH\rPID|||9434765919", status="unmatched"
    )
    matched = InboundMessage.objects.create(
        channel="mllp", raw=b"MSH|^~\\&|WINPATH", status="processed", patient=patient
    )
    response = admin_client.get(change_url(unmatched))
    assertContains(response, "PID|||9434765919")
    client.force_login(staff)
    listing = client.get(changelist_url(InboundMessage))
    assertContains(listing, change_url(matched))
    assertNotContains(listing, change_url(unmatched))
    assert client.get(reverse("admin:rms_inboundmessage_add")).status_code == 403


def test_a_superuser_adds_a_patient_with_a_caseload_entry(admin_client, admin_user, team) -> None:
    data = admin_form_data(admin_client.get(reverse("admin:rms_patient_add")))
    data.update(
        {
            "nhs_number": "943 476 5919",
            "given_name": "Arthur",
            "family_name": "Dent",
            "date_of_birth": "1952-03-11",
            "caseload_entries-TOTAL_FORMS": "1",
            "caseload_entries-0-team": team.pk,
            "caseload_entries-0-started_on": "2024-01-01",
        }
    )
    response = admin_client.post(reverse("admin:rms_patient_add"), data)
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.nhs_number == "9434765919"
    entry = patient.caseload_entries.get()
    assert (entry.team, entry.added_by) == (team, admin_user)
