from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from rms.models import AccessEvent, Document, Observation, Patient, Result
from rms.views import PATIENTS_PER_PAGE
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    TeamFactory,
)

pytestmark = pytest.mark.django_db

PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def record_url(patient: Patient) -> str:
    return reverse("rms:patient_detail", args=[patient.public_id])


def edit_url(patient: Patient) -> str:
    return reverse("rms:patient_edit", args=[patient.public_id])


def document_url(patient: Patient, document: Document) -> str:
    return reverse("rms:document_detail", args=[patient.public_id, document.public_id])


def registration(team, **overrides) -> dict[str, object]:
    data: dict[str, object] = {
        "nhs_number": "943 476 5919",
        "nhs_number_status": "01",
        "mrn": "RXX9000001",
        "title": "Mr",
        "given_name": "Arthur",
        "family_name": "Dent",
        "date_of_birth": "1952-03-11",
        "sex": "M",
        "address_line_1": "155 Country Lane",
        "address_line_2": "",
        "address_city": "Cottington",
        "address_county": "",
        "postcode": "ta1 1aa",
        "phone_mobile": "07700 900123",
        "phone_home": "",
        "phone_work": "",
        "email": "",
    }
    if team is not None:
        data["teams"] = [team.pk]
    data.update(overrides)
    return data


def details(patient: Patient, **overrides) -> dict[str, object]:
    data = registration(None)
    data.update(
        nhs_number=patient.nhs_number,
        mrn=patient.mrn,
        given_name=patient.given_name,
        family_name=patient.family_name,
        date_of_birth=patient.date_of_birth.isoformat(),
    )
    data.update(overrides)
    return data


# ---------------------------------------------------------------------------
# Logging in, and every page refusing anonymous users
# ---------------------------------------------------------------------------
def test_the_login_page_renders_with_labelled_fields(client) -> None:
    response = client.get(reverse("login"))
    assertContains(response, 'for="id_username"')
    assertContains(response, 'for="id_password"')
    assertContains(response, 'autocomplete="current-password"')


def test_logging_in_lands_on_the_patient_list(client, clinician) -> None:
    response = client.post(
        reverse("login"), {"username": "clinician", "password": "correct-horse-battery"}
    )
    assertRedirects(response, reverse("rms:patient_list"))


def test_a_wrong_password_is_refused_on_the_login_page(client, clinician) -> None:
    response = client.post(reverse("login"), {"username": "clinician", "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "name",
    ["home", "patient_list", "patient_create", "patient_detail", "patient_edit", "document"],
)
def test_every_page_sends_an_anonymous_user_to_log_in(client, patient, name) -> None:
    document = DocumentFactory(patient=patient)
    url = {
        "home": reverse("rms:home"),
        "patient_list": reverse("rms:patient_list"),
        "patient_create": reverse("rms:patient_create"),
        "patient_detail": record_url(patient),
        "patient_edit": edit_url(patient),
        "document": document_url(patient, document),
    }[name]
    response = client.get(url)
    assertRedirects(response, f"{reverse('login')}?next={url}", fetch_redirect_response=False)
    assert not AccessEvent.objects.exists()


def test_the_root_sends_a_logged_in_user_to_their_worklist(client, clinician) -> None:
    client.force_login(clinician)
    assertRedirects(client.get("/"), reverse("worklists:list"))


# ---------------------------------------------------------------------------
# The patient list
# ---------------------------------------------------------------------------
def test_a_clinician_sees_their_teams_patients_and_not_another_teams(
    client, clinician, patient, other_patient
) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_list"))
    assertContains(response, record_url(patient))
    assertNotContains(response, record_url(other_patient))
    assertNotContains(response, other_patient.family_name.upper())


def test_the_list_shows_name_nhs_number_mrn_birth_age_and_teams(
    client, clinician, team, time_machine
) -> None:
    time_machine.move_to(dt.datetime(2026, 4, 12, 9, 0, tzinfo=dt.UTC))
    PatientFactory(
        nhs_number="9434765919",
        mrn="RXX0042",
        given_name="Arthur",
        family_name="Dent",
        date_of_birth=dt.date(1952, 3, 11),
        teams=[team],
    )
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_list"))
    assertContains(response, "DENT, Arthur")
    assertContains(response, "943 476 5919")
    assertContains(response, "RXX0042")
    assertContains(response, "11-Mar-1952 (74y)")
    assertContains(response, "Urology CNS team")
    assertContains(response, '<th scope="col">NHS number</th>', html=True)
    assertContains(response, "<caption")


@pytest.mark.parametrize("term", ["943 476 5919", "9434765919", "rxx0042", "Dent", "arth"])
def test_the_list_searches_by_nhs_number_mrn_or_name(client, clinician, team, term) -> None:
    wanted = PatientFactory(
        nhs_number="9434765919",
        mrn="RXX0042",
        given_name="Arthur",
        family_name="Dent",
        teams=[team],
    )
    unwanted = PatientFactory(given_name="Ford", family_name="Prefect", teams=[team])
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_list"), {"q": term})
    assertContains(response, record_url(wanted))
    assertNotContains(response, record_url(unwanted))
    assertContains(response, '<label for="patient-search"')


def test_a_search_does_not_reach_another_teams_patient(client, clinician, other_patient) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_list"), {"q": other_patient.nhs_number})
    assertNotContains(response, record_url(other_patient))
    assertContains(response, "caseloads match")


def test_a_team_with_no_patients_sees_the_empty_state(client, clinician) -> None:
    client.force_login(clinician)
    assertContains(client.get(reverse("rms:patient_list")), "There are no patients on your teams")


def test_the_list_is_split_into_pages_of_fifty(client, clinician, team) -> None:
    for _ in range(PATIENTS_PER_PAGE + 1):
        PatientFactory(teams=[team])
    client.force_login(clinician)
    first = client.get(reverse("rms:patient_list"))
    second = client.get(reverse("rms:patient_list"), {"page": 2})
    assert len(first.context["patients"]) == PATIENTS_PER_PAGE
    assert len(second.context["patients"]) == 1
    assertContains(first, "Page 1 of 2")


def test_the_register_button_is_offered_to_a_clinician_not_to_a_viewer(
    client, clinician, viewer
) -> None:
    client.force_login(clinician)
    assertContains(client.get(reverse("rms:patient_list")), reverse("rms:patient_create"))
    client.force_login(viewer)
    assertNotContains(client.get(reverse("rms:patient_list")), reverse("rms:patient_create"))


# ---------------------------------------------------------------------------
# The record
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["clinician", "team_admin", "viewer"])
def test_every_member_of_the_team_can_open_the_record(client, request, patient, role) -> None:
    client.force_login(request.getfixturevalue(role))
    response = client.get(record_url(patient))
    assertContains(response, patient.family_name.upper())
    assertContains(response, patient.nhs_number_display)
    assert "no-store" in response["Cache-Control"]


def test_opening_the_record_writes_an_allowed_access_event(client, clinician, patient) -> None:
    client.force_login(clinician)
    client.get(record_url(patient), REMOTE_ADDR="10.0.0.7")
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.action, event.channel) == (
        clinician,
        patient,
        "record",
        "web",
    )
    assert event.outcome == AccessEvent.Outcome.ALLOWED
    assert event.ip_address == "10.0.0.7"


def test_another_teams_patient_is_a_404_and_the_refusal_is_logged(
    client, other_team_clinician, patient
) -> None:
    client.force_login(other_team_clinician)
    response = client.get(record_url(patient))
    assert response.status_code == 404
    assertNotContains(response, patient.family_name, status_code=404)
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.outcome) == (
        other_team_clinician,
        patient,
        AccessEvent.Outcome.DENIED,
    )


def test_an_unknown_id_is_a_404_and_logs_nothing(client, clinician) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[uuid.uuid4()]))
    assert response.status_code == 404
    assert not AccessEvent.objects.exists()


def test_the_record_shows_the_header_details(client, clinician, team, other_team) -> None:
    patient = PatientFactory(
        nhs_number_status="02",
        phone_home="01823 000000",
        email="arthur@example.org",
        teams=[team, other_team],
    )
    client.force_login(clinician)
    response = client.get(record_url(patient))
    assertContains(response, "02 — present but not traced")
    assertContains(response, "(not verified)")
    assertContains(response, patient.mrn)
    assertContains(response, "1 Station Road<br>Taunton<br>TA1 1AA")
    assertContains(response, "Home: 01823 000000")
    assertContains(response, "arthur@example.org")
    assertContains(response, "Colorectal CNS team, Urology CNS team")


def test_the_record_lists_diagnoses_appointments_and_documents(client, clinician, patient) -> None:
    DiagnosisFactory(patient=patient, text="Malignant tumour of prostate")
    AppointmentFactory(patient=patient, reason="PSA follow-up", location="Urology outpatients")
    document = DocumentFactory(patient=patient, title="Letter to GP")
    client.force_login(clinician)
    response = client.get(record_url(patient))
    assertContains(response, "Malignant tumour of prostate")
    assertContains(response, "PSA follow-up")
    assertContains(response, "Urology outpatients")
    assertContains(response, document_url(patient, document))
    assertContains(response, "Letter to GP")


def test_results_are_newest_first_with_comparator_units_range_and_flag_in_words(
    client, clinician, patient
) -> None:
    now = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
    older = ResultFactory(patient=patient, service_name="Older PSA", observed_at=now)
    newer = ResultFactory(
        patient=patient, service_name="Newer PSA", observed_at=now + dt.timedelta(days=90)
    )
    ObservationFactory(
        result=older, comparator="<", value_text="0.01", value_numeric=Decimal("0.01")
    )
    ObservationFactory(
        result=newer, value_text="5.6", value_numeric=Decimal("5.6"), abnormal_flag="H"
    )
    client.force_login(clinician)
    page = client.get(record_url(patient)).content.decode()
    assert page.index("Newer PSA") < page.index("Older PSA")
    assert "&lt;0.01</span>" in page
    assert "ug/L" in page
    assert "0-4" in page
    assert '<strong class="value-abnormal">High (H)</strong>' in page


def test_a_superseded_observation_is_not_shown(client, clinician, patient) -> None:
    result = ResultFactory(patient=patient)
    ObservationFactory(result=result, value_text="9.9", superseded_at=result.observed_at)
    ObservationFactory(result=result, value_text="1.2")
    client.force_login(clinician)
    response = client.get(record_url(patient))
    assertContains(response, "1.2")
    assertNotContains(response, "9.9")


def test_a_radiology_report_keeps_its_line_breaks_and_is_escaped(
    client, clinician, patient
) -> None:
    ResultFactory(
        patient=patient,
        category=Result.Category.RADIOLOGY,
        service_name="MRI prostate",
        report_text="Findings: no change.\nConclusion: <b>stable</b>.",
    )
    client.force_login(clinician)
    response = client.get(record_url(patient))
    assertContains(response, "Findings: no change.<br>Conclusion: &lt;b&gt;stable&lt;/b&gt;.")


def test_a_withdrawn_result_says_so(client, clinician, patient) -> None:
    ResultFactory(patient=patient, status=Result.Status.CANCELLED)
    client.force_login(clinician)
    assertContains(client.get(record_url(patient)), "withdrawn: no longer counts")


def test_the_edit_link_is_shown_to_a_clinician_and_not_to_a_viewer(
    client, clinician, viewer, patient
) -> None:
    client.force_login(clinician)
    assertContains(client.get(record_url(patient)), edit_url(patient))
    client.force_login(viewer)
    assertNotContains(client.get(record_url(patient)), edit_url(patient))


def _result_with_observations(patient: Patient) -> Result:
    result = ResultFactory(patient=patient)
    ObservationFactory(result=result, sequence=1)
    ObservationFactory(result=result, sequence=2, name="Free PSA")
    return result


def test_the_record_needs_no_more_queries_for_thirty_results_than_for_one(
    client, clinician, patient, django_assert_max_num_queries
) -> None:
    DiagnosisFactory(patient=patient)
    AppointmentFactory(patient=patient)
    DocumentFactory(patient=patient)
    _result_with_observations(patient)
    client.force_login(clinician)
    with CaptureQueriesContext(connection) as with_one:
        client.get(record_url(patient))
    for _ in range(29):
        _result_with_observations(patient)
    with django_assert_max_num_queries(len(with_one.captured_queries)):
        response = client.get(record_url(patient))
    assert len(response.context["results"]) == 30
    assert Observation.objects.filter(result__patient=patient).count() == 60


# ---------------------------------------------------------------------------
# Registering a patient
# ---------------------------------------------------------------------------
def test_a_clinician_registers_a_patient_on_the_team_they_choose(client, clinician, team) -> None:
    second_team = TeamFactory(code="ONC", name="Oncology")
    MembershipFactory(user=clinician, team=second_team, role="team_admin")
    client.force_login(clinician)
    response = client.post(reverse("rms:patient_create"), registration(second_team), follow=True)
    patient = Patient.objects.get()
    assertRedirects(response, record_url(patient))
    assertContains(response, "The patient has been registered.")
    assert patient.nhs_number == "9434765919"
    assert patient.postcode == "TA1 1AA"
    assert list(patient.teams.all()) == [second_team]
    assert patient.caseload_entries.get().added_by == clinician


def test_the_registration_form_offers_only_the_users_writable_teams(
    client, clinician, team, other_team
) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_create"))
    assertContains(response, "Urology CNS team")
    assertNotContains(response, "Colorectal CNS team")
    assertContains(response, 'autocomplete="off"')


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"nhs_number": "943 476 5918"}, "nhs_number"),
        ({"family_name": ""}, "family_name"),
        ({"nhs_number": "", "mrn": ""}, "nhs_number"),
        ({"nhs_number": "", "nhs_number_status": "01"}, "nhs_number_status"),
        ({"date_of_birth": "2999-01-01"}, "date_of_birth"),
        ({"email": "not-an-address"}, "email"),
    ],
)
def test_an_invalid_registration_names_the_field_and_saves_nothing(
    client, clinician, team, overrides, field
) -> None:
    client.force_login(clinician)
    response = client.post(reverse("rms:patient_create"), registration(team, **overrides))
    assert response.status_code == 200
    assert field in response.context["form"].errors
    assertContains(response, "Nothing has been saved")
    assert not Patient.objects.exists()


def test_a_duplicate_nhs_number_is_a_field_error_and_saves_nothing(
    client, clinician, team, other_patient
) -> None:
    client.force_login(clinician)
    response = client.post(
        reverse("rms:patient_create"), registration(team, nhs_number=other_patient.nhs_number)
    )
    assert "already registered" in response.context["form"].errors["nhs_number"][0]
    assert Patient.objects.count() == 1


def test_a_team_that_is_not_the_users_is_a_field_error(client, clinician, team, other_team) -> None:
    client.force_login(clinician)
    response = client.post(reverse("rms:patient_create"), registration(other_team))
    assert "teams" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_a_viewer_cannot_register_a_patient(client, viewer, team) -> None:
    client.force_login(viewer)
    assert client.get(reverse("rms:patient_create")).status_code == 403
    assert client.post(reverse("rms:patient_create"), registration(team)).status_code == 403
    assert not Patient.objects.exists()


# ---------------------------------------------------------------------------
# Editing a patient's details
# ---------------------------------------------------------------------------
def test_a_clinician_edits_a_patients_details(client, clinician, patient) -> None:
    client.force_login(clinician)
    form = client.get(edit_url(patient))
    assertContains(form, patient.nhs_number_display)
    response = client.post(edit_url(patient), details(patient, family_name="Beeblebrox"))
    assertRedirects(response, record_url(patient))
    patient.refresh_from_db()
    assert patient.family_name == "Beeblebrox"


def test_an_invalid_edit_names_the_field_and_changes_nothing(
    client, clinician, patient, other_patient
) -> None:
    client.force_login(clinician)
    response = client.post(
        edit_url(patient), details(patient, nhs_number=other_patient.nhs_number, title="Dr")
    )
    assert "nhs_number" in response.context["form"].errors
    patient.refresh_from_db()
    assert patient.title == "Mr"


def test_a_viewer_cannot_edit_a_patient(client, viewer, patient) -> None:
    client.force_login(viewer)
    assert client.get(edit_url(patient)).status_code == 403
    response = client.post(edit_url(patient), details(patient, family_name="Beeblebrox"))
    assert response.status_code == 403
    patient.refresh_from_db()
    assert patient.family_name != "Beeblebrox"


def test_another_teams_clinician_cannot_edit_a_patient(
    client, other_team_clinician, patient
) -> None:
    client.force_login(other_team_clinician)
    assert client.get(edit_url(patient)).status_code == 404
    response = client.post(edit_url(patient), details(patient, family_name="Beeblebrox"))
    assert response.status_code == 404
    patient.refresh_from_db()
    assert patient.family_name != "Beeblebrox"


# ---------------------------------------------------------------------------
# Documents
# ---------------------------------------------------------------------------
def test_an_html_document_is_shown_as_escaped_text(client, clinician, patient) -> None:
    document = DocumentFactory(
        patient=patient,
        title="Clinic letter",
        content_html=(
            "<html><head><style>p{}</style><script>alert('x')</script></head><body>"
            "<p>Dear Dr Smith,</p><p>PSA &lt; 0.1 and\nstable.<br>Next review in 6 months.</p>"
            "<img src=x onerror=alert(1)></body></html>"
        ),
    )
    client.force_login(clinician)
    response = client.get(document_url(patient, document))
    page = response.content.decode()
    assert "Dear Dr Smith,\n\nPSA &lt; 0.1 and stable.\nNext review in 6 months." in page
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # only in the escaped source view
    event = AccessEvent.objects.get()
    assert (event.action, event.outcome) == ("document", AccessEvent.Outcome.ALLOWED)


def test_a_pdf_document_is_served_inline(client, clinician, patient) -> None:
    document = DocumentFactory(
        patient=patient,
        content_type=Document.ContentType.PDF,
        content_html="",
        content_pdf=PDF_BYTES,
        title="Letter about Arthur Dent",
    )
    client.force_login(clinician)
    response = client.get(document_url(patient, document))
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'inline; filename="clinic-letter.pdf"'
    assert response.content == PDF_BYTES
    assert AccessEvent.objects.get().action == "document"


def test_a_document_of_another_patient_is_a_404(client, clinician, patient, team) -> None:
    neighbour = PatientFactory(teams=[team])
    document = DocumentFactory(patient=neighbour)
    client.force_login(clinician)
    assert client.get(document_url(patient, document)).status_code == 404


def test_another_teams_document_is_a_404_and_the_refusal_is_logged(
    client, other_team_clinician, patient
) -> None:
    document = DocumentFactory(patient=patient)
    client.force_login(other_team_clinician)
    assert client.get(document_url(patient, document)).status_code == 404
    event = AccessEvent.objects.get()
    assert (event.action, event.outcome) == ("document", AccessEvent.Outcome.DENIED)


def test_registration_accepts_a_patient_with_an_mrn_and_no_nhs_number(
    client, clinician, team
) -> None:
    client.force_login(clinician)
    client.post(
        reverse("rms:patient_create"),
        registration(team, nhs_number="", nhs_number_status="07", mrn="RXX5"),
    )
    patient = Patient.objects.get()
    assert patient.nhs_number is None
    assert patient.mrn == "RXX5"


def test_the_page_title_does_not_carry_the_patients_name(client, clinician, patient) -> None:
    client.force_login(clinician)
    response = client.get(record_url(patient))
    title = response.content.decode().split("<title>")[1].split("</title>")[0]
    assert patient.family_name.upper() not in title.upper()


def test_a_value_sent_with_its_comparator_is_not_shown_twice(client, clinician, patient) -> None:
    ObservationFactory(
        result=ResultFactory(patient=patient),
        comparator="<",
        value_text="<0.01",
        value_numeric=Decimal("0.01"),
    )
    client.force_login(clinician)
    page = client.get(reverse("rms:patient_detail", args=[patient.public_id])).content.decode()
    assert "&lt;0.01" in page
    assert "&lt;&lt;0.01" not in page
