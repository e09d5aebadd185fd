"""Admin of the inbound feed (``rms.admin.inbound``): the queues, the raw message, and the
actions that file a held message once a person has decided."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse
from pytest_django.asserts import assertContains, assertNotContains

from rms.inbound import receive
from rms.models import CaseloadEntry, InboundMessage, Patient, Result, Role
from tests.factories import MembershipFactory, PatientFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes

pytestmark = pytest.mark.django_db

Status = InboundMessage.Status
CHANGELIST = reverse("admin:rms_inboundmessage_changelist")
PSA = sample_bytes("oru_r01_psa.hl7")


def change_url(message: InboundMessage) -> str:
    return reverse("admin:rms_inboundmessage_change", args=[message.pk])


def match_url(message: InboundMessage) -> str:
    return reverse("admin:rms_inboundmessage_match", args=[message.pk])


def create_patient_url(message: InboundMessage) -> str:
    return reverse("admin:rms_inboundmessage_create_patient", args=[message.pk])


def sample_patient(**values: object) -> Patient:
    """The patient of the HL7 samples (TESTER, Alan; 9990000018; RXX1234567)."""
    return PatientFactory(
        **{
            "nhs_number": "9990000018",
            "mrn": "RXX1234567",
            "given_name": "Alan",
            "family_name": "Tester",
            "date_of_birth": dt.date(1958, 2, 14),
            **values,
        }
    )


@pytest.fixture
def held() -> InboundMessage:
    """The PSA result, received before its patient was known: held as unmatched."""
    receive(raw=PSA, channel="mllp")
    message = InboundMessage.objects.get()
    assert message.status == Status.UNMATCHED
    return message


@pytest.fixture
def filed(team) -> InboundMessage:
    """A bloods panel for a patient of ``team``, filed."""
    sample_patient(teams=[team])
    receive(raw=sample_bytes("oru_r01_bloods_panel.hl7"), channel="mllp")
    message = InboundMessage.objects.get(control_id="LAB0000102")
    assert message.status == Status.PROCESSED
    return message


@pytest.fixture
def staff(team):  # type: ignore[no-untyped-def]
    """A team admin of ``team`` with staff status and every inbound message permission, but
    not a superuser."""
    user = UserFactory(username="staff", is_staff=True)
    MembershipFactory(user=user, team=team, role=Role.TEAM_ADMIN)
    codenames = [f"{action}_inboundmessage" for action in ("view", "add", "change", "delete")]
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


# --- the queues ------------------------------------------------------------------------------


def test_the_changelist_lists_the_messages(admin_client, held, filed) -> None:
    response = admin_client.get(CHANGELIST)
    assertContains(response, change_url(held))
    assertContains(response, change_url(filed))
    assertContains(response, "LAB0000101")


def test_the_changelist_filters_by_status(admin_client, held, filed) -> None:
    response = admin_client.get(CHANGELIST, {"status__exact": "unmatched"})
    assertContains(response, change_url(held))
    assertNotContains(response, change_url(filed))


def test_a_search_by_control_id_finds_the_message(admin_client, held, filed) -> None:
    response = admin_client.get(CHANGELIST, {"q": "LAB0000102"})
    assertContains(response, change_url(filed))
    assertNotContains(response, change_url(held))


def test_a_search_by_the_patients_nhs_number_with_spaces_finds_their_messages(
    admin_client, held, filed
) -> None:
    response = admin_client.get(CHANGELIST, {"q": "999 000 0018"})
    assertContains(response, change_url(filed))
    # The held message is about the same person, but is linked to nobody yet.
    assertNotContains(response, change_url(held))


def test_the_change_page_shows_the_raw_message_a_segment_a_line_and_the_ack(
    admin_client, held
) -> None:
    response = admin_client.get(change_url(held))
    assert response.status_code == 200
    assertContains(response, "\nPID|1||9990000018^^^NHS^NH~RXX1234567")
    assertContains(response, "\nOBX|1|NM|PSA^PSA^WINPATH||0.24|")
    assertNotContains(response, "\r")
    assertContains(response, "MSA|AA|LAB0000101")
    assertContains(response, "Match to a patient")
    assertContains(response, create_patient_url(held))


def test_deleting_a_message_is_not_offered(admin_client, held) -> None:
    change = admin_client.get(change_url(held))
    assertNotContains(change, reverse("admin:rms_inboundmessage_delete", args=[held.pk]))
    actions = dict(admin_client.get(CHANGELIST).context["action_form"].fields["action"].choices)
    assert "delete_selected" not in actions
    assert "reprocess_selected" in actions
    delete = admin_client.post(reverse("admin:rms_inboundmessage_delete", args=[held.pk]))
    assert delete.status_code == 403
    assert InboundMessage.objects.filter(pk=held.pk).exists()


# --- reprocess -------------------------------------------------------------------------------


def test_reprocessing_files_a_held_message_once_its_patient_exists(
    admin_client, held, team
) -> None:
    patient = sample_patient(teams=[team])
    response = admin_client.post(
        CHANGELIST, {"action": "reprocess_selected", "_selected_action": [held.pk]}, follow=True
    )
    assertContains(response, "Processed again: 1 processed.")
    held.refresh_from_db()
    assert (held.status, held.patient, held.attempts) == (Status.PROCESSED, patient, 2)
    assert Result.objects.get().patient == patient


def test_reprocessing_a_message_still_without_its_patient_keeps_it_held(admin_client, held) -> None:
    admin_client.post(CHANGELIST, {"action": "reprocess_selected", "_selected_action": [held.pk]})
    held.refresh_from_db()
    assert held.status == Status.UNMATCHED
    assert not Result.objects.exists()


# --- match by hand ---------------------------------------------------------------------------


def test_the_match_page_shows_the_form_and_the_message(admin_client, held) -> None:
    response = admin_client.get(match_url(held))
    assert response.status_code == 200
    assertContains(response, 'name="identifier"')
    assertContains(response, "No patient with this NHS number or MRN.")  # why it was held
    assertContains(response, "\nOBX|1|NM|PSA")


def test_finding_the_patient_shows_their_details_and_files_nothing(
    admin_client, held, team
) -> None:
    patient = sample_patient(nhs_number="4010232137", mrn="RXX0000777", teams=[team])
    response = admin_client.post(match_url(held), {"identifier": "401 023 2137"})
    assert response.status_code == 200
    assertContains(response, "401 023 2137")
    assertContains(response, "RXX0000777")
    assertContains(response, "14-Feb-1958")
    assertContains(response, f'value="{patient.public_id}"')
    held.refresh_from_db()
    assert held.status == Status.UNMATCHED
    assert not Result.objects.exists()


def test_finding_a_patient_by_mrn_works_too(admin_client, held, team) -> None:
    patient = sample_patient(nhs_number="4010232137", mrn="RXX0000777", teams=[team])
    response = admin_client.post(match_url(held), {"identifier": "RXX0000777"})
    assertContains(response, f'value="{patient.public_id}"')


def test_an_identifier_nobody_has_is_a_form_error(admin_client, held) -> None:
    response = admin_client.post(match_url(held), {"identifier": "9434765919"})
    assert response.status_code == 200
    assert response.context["form"].errors["identifier"] == [
        "No patient with this NHS number or MRN."
    ]


def test_confirming_the_match_files_the_message_and_records_who_did_it(
    admin_client, admin_user, held, team
) -> None:
    patient = sample_patient(nhs_number="4010232137", mrn="RXX0000777", teams=[team])
    response = admin_client.post(
        match_url(held), {"identifier": "4010232137", "confirm": str(patient.public_id)}
    )
    assert response.status_code == 302
    assert response["Location"] == change_url(held)
    held.refresh_from_db()
    assert (held.status, held.patient) == (Status.PROCESSED, patient)
    assert Result.objects.get().patient == patient
    entry = LogEntry.objects.get(object_id=str(held.pk))
    assert (entry.user, entry.action_flag) == (admin_user, CHANGE)
    assert "Matched by hand" in entry.get_change_message()


def test_a_confirmation_for_another_patient_than_the_one_found_files_nothing(
    admin_client, held, team
) -> None:
    found = sample_patient(nhs_number="4010232137", mrn="RXX0000777", teams=[team])
    other = PatientFactory(teams=[team])
    response = admin_client.post(
        match_url(held), {"identifier": "4010232137", "confirm": str(other.public_id)}
    )
    assert response.status_code == 200
    assertContains(response, f'value="{found.public_id}"')
    held.refresh_from_db()
    assert held.status == Status.UNMATCHED


def test_a_message_already_filed_cannot_be_matched_again(admin_client, filed) -> None:
    assert admin_client.get(match_url(filed)).status_code == 404


# --- create the patient from the message -----------------------------------------------------


def test_a_superuser_creates_the_patient_from_an_unmatched_result_and_files_it(
    admin_client, admin_user, held
) -> None:
    response = admin_client.post(create_patient_url(held))
    assert response.status_code == 302
    assert response["Location"] == change_url(held)
    patient = Patient.objects.get()
    assert (patient.nhs_number, patient.mrn, patient.family_name, patient.date_of_birth) == (
        "9990000018",
        "RXX1234567",
        "TESTER",
        dt.date(1958, 2, 14),
    )
    assert not CaseloadEntry.objects.exists()
    held.refresh_from_db()
    assert (held.status, held.patient) == (Status.PROCESSED, patient)
    assert Result.objects.get().patient == patient
    assert LogEntry.objects.get(object_id=str(held.pk)).user == admin_user


def test_creating_the_patient_needs_a_post(admin_client, held) -> None:
    assert admin_client.get(create_patient_url(held)).status_code == 302
    assert not Patient.objects.exists()


def test_creating_a_patient_that_exists_already_is_refused_with_a_message(
    admin_client, team
) -> None:
    sample_patient(mrn="RXX0000777", date_of_birth=dt.date(1958, 2, 15), teams=[team])
    receive(raw=PSA, channel="mllp")
    review = InboundMessage.objects.get()
    assert review.status == Status.REVIEW
    response = admin_client.post(create_patient_url(review), follow=True)
    assertContains(response, "could not be created")
    assert Patient.objects.count() == 1
    review.refresh_from_db()
    assert review.status == Status.REVIEW


# --- staff who are not superusers ------------------------------------------------------------


def test_a_staff_member_does_not_see_unmatched_messages(client, staff, held, filed) -> None:
    client.force_login(staff)
    response = client.get(CHANGELIST)
    assertContains(response, change_url(filed))
    assertNotContains(response, change_url(held))
    assertNotContains(client.get(CHANGELIST, {"status__exact": "unmatched"}), change_url(held))


def test_a_staff_member_cannot_open_an_unmatched_message(client, staff, held) -> None:
    client.force_login(staff)
    response = client.get(change_url(held))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")
    assert client.get(match_url(held)).status_code == 404
    assert client.post(match_url(held), {"identifier": "9990000018"}).status_code == 404


def test_a_staff_member_may_not_create_patients_from_messages(client, staff, held) -> None:
    client.force_login(staff)
    assert client.post(create_patient_url(held)).status_code == 403
    assert not Patient.objects.exists()
    held.refresh_from_db()
    assert held.status == Status.UNMATCHED


def test_a_staff_member_opens_their_patients_message_without_create_or_delete(
    client, staff, filed
) -> None:
    client.force_login(staff)
    response = client.get(change_url(filed))
    assert response.status_code == 200
    assertContains(response, "MSA|AA|LAB0000102")
    assertNotContains(response, "Create the patient from this message")
    assertNotContains(response, reverse("admin:rms_inboundmessage_delete", args=[filed.pk]))


def test_a_message_in_latin_1_is_shown_in_its_own_character_set(admin_client) -> None:
    # How names read matters here: an administrator compares them with the record.
    raw = (
        "MSH|^~\\&|WINPATH|RXX01|RMS|RXX|20261110141502||ORU^R01^ORU_R01|L1|P|2.4|||||GBR|8859/1\r"
        "PID|1||9434765919^^^NHS^NH||Brontë^Zoë||19600101|F\r"
        "OBR|1|ORD1|26L0045999|PSA^PSA^WINPATH|||20261110083000||||||||||||||20261110141500||CH|F\r"
        "OBX|1|NM|PSA^PSA^WINPATH||0.24|ug/L|0.00-0.10|H|||F\r"
    ).encode("latin-1")
    receive(raw=raw, channel="mllp")
    message = InboundMessage.objects.get()
    assert message.status == Status.UNMATCHED
    assertContains(admin_client.get(change_url(message)), "PID|1||9434765919^^^NHS^NH||Brontë^Zoë")
    assertContains(admin_client.get(match_url(message)), "Brontë^Zoë")
