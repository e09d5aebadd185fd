"""The PKB pages: a patient's sharing panel and its actions, and the delivery view.

Nothing is sent to PKB here: an opt-in or a release is checked at the outbox rows it writes
(the dispatcher is rung on commit, which normal pytest-django tests never reach).
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects

from pkb_bridge import services
from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    Publication,
    PublicationDecision,
    ReleasePolicy,
)
from rms.models import AccessEvent, Patient, Role
from tests.factories import (
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Kind = OutboundMessage.Kind
Status = OutboundMessage.Status
HTMX = {"HX-Request": "true"}
CONSENTED = {"attestation": "Consented in clinic, paper form filed"}


def panel_url(patient: Patient) -> str:
    return reverse("pkb:patient_panel", args=[patient.public_id])


def opt_in_url(patient: Patient) -> str:
    return reverse("pkb:opt_in", args=[patient.public_id])


def withdraw_url(patient: Patient) -> str:
    return reverse("pkb:withdraw", args=[patient.public_id])


def resend_url(patient: Patient) -> str:
    return reverse("pkb:invitation_resend", args=[patient.public_id])


def decision_url(publication: Publication, verb: str) -> str:
    item = publication.result or publication.document or publication.appointment
    return reverse(f"pkb:publication_{verb}", args=[publication.patient.public_id, item.public_id])


def lab_result(patient: Patient, *, days_ago: int = 30, name: str = "Prostate specific antigen"):
    result = ResultFactory(
        patient=patient,
        service_name=name,
        observed_at=timezone.now() - dt.timedelta(days=days_ago),
    )
    ObservationFactory(result=result, value_text="0.05", value_numeric=Decimal("0.05"))
    return result


def shared(patient: Patient, actor) -> Enrolment:
    return services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=actor
    )


def page_messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def hold_labs(team) -> ReleasePolicy:
    return ReleasePolicy.objects.create(team=team, category="lab", mode="hold")


# ---------------------------------------------------------------------------
# The panel
# ---------------------------------------------------------------------------
def test_the_patient_record_loads_the_panel_with_htmx_and_links_to_it_without(
    client, clinician, patient
) -> None:
    client.force_login(clinician)
    response = client.get(reverse("rms:patient_detail", args=[patient.public_id]))
    assertContains(response, f'hx-get="{panel_url(patient)}"')
    assertContains(response, 'hx-trigger="load"')
    assertContains(response, f'<a href="{panel_url(patient)}">PKB sharing</a>', html=True)


def test_the_panel_sends_an_anonymous_user_to_log_in(client, patient) -> None:
    url = panel_url(patient)
    response = client.get(url)
    assertRedirects(response, f"{reverse('login')}?next={url}", fetch_redirect_response=False)


def test_a_clinician_sees_a_patient_not_shared_and_the_button_to_share(
    client, clinician, patient
) -> None:
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    assertContains(response, "Not shared with Patients Know Best")
    assertContains(response, "Share with Patients Know Best")
    assertContains(response, f'href="{opt_in_url(patient)}"')
    assertContains(response, f'hx-get="{opt_in_url(patient)}"')
    # Without htmx it is a whole page, with the way back to the record.
    assertContains(response, "<html")
    assertContains(response, reverse("rms:patient_detail", args=[patient.public_id]))
    event = AccessEvent.objects.get()
    assert (event.user, event.patient, event.action, event.outcome) == (
        clinician,
        patient,
        "pkb",
        "allowed",
    )


def test_with_htmx_the_panel_is_a_fragment(client, clinician, patient) -> None:
    client.force_login(clinician)
    response = client.get(panel_url(patient), headers=HTMX)
    assertContains(response, 'id="pkb-panel"')
    assertNotContains(response, "<html")


def test_a_viewer_sees_the_panel_without_any_button(client, viewer, clinician, patient) -> None:
    lab_result(patient)
    shared(patient, clinician)
    client.force_login(viewer)
    response = client.get(panel_url(patient))
    assertContains(response, "Shared since")
    assertContains(response, "Prostate specific antigen")
    assertNotContains(response, "Stop sharing")
    assertNotContains(response, "hx-post")


def test_a_clinician_of_another_team_gets_a_404_and_the_refusal_is_logged(
    client, other_team_clinician, patient
) -> None:
    client.force_login(other_team_clinician)
    assert client.get(panel_url(patient)).status_code == 404
    assert AccessEvent.objects.get().outcome == "denied"


def test_the_panel_says_why_a_patient_cannot_be_shared_and_offers_no_button(
    client, clinician, team
) -> None:
    patient = PatientFactory(teams=[team], nhs_number_status="02")
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    assertContains(response, "Cannot be shared yet.")
    assertContains(response, "The NHS number is not verified (status 02)")
    assertNotContains(response, "Share with Patients Know Best</button>")


def test_the_panel_shows_the_enrolment_registration_invitation_and_each_item(
    client, clinician, patient
) -> None:
    lab_result(patient, name="Prostate specific antigen")
    enrolment = shared(patient, clinician)
    Enrolment.objects.filter(pk=enrolment.pk).update(
        registered_at=timezone.now(), invitation=Enrolment.Invitation.NO_EMAIL
    )
    clinician.first_name, clinician.last_name = "Jo", "Reid"
    clinician.save()
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    assertContains(response, "Shared since")
    assertContains(response, "by Jo Reid (Urology CNS team)")
    assertContains(response, "Accepted by PKB on")
    assertContains(response, "No email recorded: the team must help the patient register")
    assertContains(response, "Prostate specific antigen, taken")
    assertContains(response, "Laboratory results")
    assertContains(response, "Waiting to be sent")
    assertContains(response, "Stop sharing")


def test_the_panel_shows_delivery_in_words(client, clinician, patient) -> None:
    first = lab_result(patient, days_ago=40, name="PSA one")
    second = lab_result(patient, days_ago=20, name="PSA two")
    enrolment = shared(patient, clinician)
    messages = {p.result_id: p.message for p in Publication.objects.filter(enrolment=enrolment)}
    # Packed into one message on opt-in: both rows show its status.
    assert messages[first.pk] == messages[second.pk]
    message = messages[first.pk]
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.REJECTED, ack_code="AE", ack_text="Unknown test code PSA"
    )
    client.force_login(clinician)
    assertContains(client.get(panel_url(patient)), "Rejected: Unknown test code PSA", count=2)
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.DELIVERED, delivered_at=timezone.now()
    )
    assertContains(client.get(panel_url(patient)), "Accepted by PKB on", count=2)


# ---------------------------------------------------------------------------
# Opting in
# ---------------------------------------------------------------------------
def test_a_clinician_shares_a_patient_and_the_registration_is_queued_first(
    client, clinician, patient
) -> None:
    lab_result(patient)
    client.force_login(clinician)
    response = client.post(opt_in_url(patient), CONSENTED)
    assertRedirects(response, panel_url(patient))
    enrolment = Enrolment.objects.get(patient=patient)
    assert enrolment.status == Enrolment.Status.ACTIVE
    assert enrolment.opted_in_by == clinician
    outbox = list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))
    assert [m.kind for m in outbox] == [Kind.REGISTRATION, Kind.LAB]
    assert all(m.status == Status.PENDING for m in outbox)
    assert page_messages(response) == [
        "Shared with Patients Know Best: queued 1 registration and 1 message of the record; "
        "they are sent to PKB in the background, registration first."
    ]


def test_the_share_form_of_a_patient_without_breaches_renders_without_a_warning(
    client, clinician, patient, caplog
) -> None:
    """Its layout names only the fields it has: crispy forms logged a traceback for the
    breach evidence choice it had left out."""
    client.force_login(clinician)
    with caplog.at_level(logging.WARNING):
        response = client.get(opt_in_url(patient))
    assert response.status_code == 200
    assertNotContains(response, "breach_evidence")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_share_delivered_at_commit_says_what_pkb_received_not_that_nothing_is_queued(
    client, clinician, patient, sandbox, settings
) -> None:
    """With tasks in-process (the demo), the dispatcher runs at commit, before the message is
    written: the clinician reads what was queued and delivered, never "0 messages queued"."""
    settings.PKB_URL = sandbox.url
    settings.PKB_USERNAME = "rms"
    settings.PKB_PASSWORD = "pw"
    lab_result(patient)
    client.force_login(clinician)
    response = client.post(opt_in_url(patient), CONSENTED)
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    assert page_messages(response) == [
        "Shared with Patients Know Best: queued 1 registration and 1 message of the record; "
        "both delivered to PKB."
    ]


def test_sharing_with_htmx_answers_with_the_new_panel_and_its_message(
    client, clinician, patient
) -> None:
    client.force_login(clinician)
    response = client.post(opt_in_url(patient), CONSENTED, headers=HTMX)
    assert response.status_code == 200
    assertContains(response, 'id="pkb-panel"')
    assertContains(response, "Shared since")
    assertContains(response, "queued 1 registration and 0 messages of the record;")
    assertNotContains(response, "<html")


def test_sharing_is_refused_with_the_reason_when_the_nhs_number_is_not_verified(
    client, clinician, team
) -> None:
    patient = PatientFactory(teams=[team], nhs_number_status="02")
    client.force_login(clinician)
    response = client.post(opt_in_url(patient), follow=True)
    assert response.status_code == 200
    assertContains(response, "The NHS number is not verified (status 02)")
    assert not Enrolment.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_sharing_twice_queues_nothing_more(client, clinician, patient) -> None:
    shared(patient, clinician)
    client.force_login(clinician)
    response = client.post(opt_in_url(patient))
    assert page_messages(response) == ["This patient is already shared with Patients Know Best."]
    assert Enrolment.objects.count() == 1
    assert OutboundMessage.objects.count() == 1


def test_a_viewer_cannot_share_a_patient(client, viewer, patient) -> None:
    client.force_login(viewer)
    assert client.post(opt_in_url(patient)).status_code == 403
    assert not Enrolment.objects.exists()


def test_a_clinician_of_another_team_cannot_share_a_patient(
    client, other_team_clinician, patient
) -> None:
    client.force_login(other_team_clinician)
    assert client.post(opt_in_url(patient)).status_code == 404
    assert not Enrolment.objects.exists()


def test_sharing_needs_a_login_and_a_get_only_shows_what_would_be_shared(
    client, clinician, patient
) -> None:
    url = opt_in_url(patient)
    assertRedirects(
        client.post(url, CONSENTED), f"{reverse('login')}?next={url}", fetch_redirect_response=False
    )
    client.force_login(clinician)
    assertContains(client.get(url), "What will be sent")
    assert not Enrolment.objects.exists()


# ---------------------------------------------------------------------------
# Withdrawing
# ---------------------------------------------------------------------------
def test_stopping_asks_for_a_reason_and_a_confirmation_first(client, clinician, patient) -> None:
    shared(patient, clinician)
    client.force_login(clinician)
    response = client.get(withdraw_url(patient))
    assertContains(response, "Why is sharing being stopped?")
    assertContains(response, "Stop sharing with Patients Know Best")
    assertContains(response, "Cancel: keep sharing")
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


def test_stopping_withdraws_the_patient_and_cancels_what_is_not_sent(
    client, clinician, patient
) -> None:
    lab_result(patient)
    enrolment = shared(patient, clinician)
    registration = OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION)
    OutboundMessage.objects.filter(pk=registration.pk).update(status=Status.DELIVERED)
    client.force_login(clinician)
    response = client.post(withdraw_url(patient), {"reason": "Patient asked to stop"})
    assertRedirects(response, panel_url(patient))
    enrolment.refresh_from_db()
    assert enrolment.status == Enrolment.Status.WITHDRAWN
    assert enrolment.withdrawn_by == clinician
    assert enrolment.withdrawal_reason == "Patient asked to stop"
    statuses = dict(OutboundMessage.objects.values_list("kind", "status"))
    assert statuses == {Kind.REGISTRATION: Status.DELIVERED, Kind.LAB: Status.CANCELLED}
    page = client.get(panel_url(patient))
    assertContains(page, "Sharing stopped on")
    assertContains(page, "Reason: Patient asked to stop")
    assertContains(page, "Share with Patients Know Best")


def test_stopping_without_a_reason_is_refused_on_the_form(client, clinician, patient) -> None:
    shared(patient, clinician)
    client.force_login(clinician)
    response = client.post(withdraw_url(patient), {"reason": ""}, headers=HTMX)
    assertContains(response, "This field is required.")
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


def test_stopping_with_htmx_answers_with_the_new_panel(client, clinician, patient) -> None:
    shared(patient, clinician)
    client.force_login(clinician)
    response = client.post(withdraw_url(patient), {"reason": "Discharged"}, headers=HTMX)
    assertContains(response, "Sharing with Patients Know Best has stopped.")
    assertContains(response, "Reason: Discharged")


def test_a_viewer_cannot_stop_sharing(client, viewer, clinician, patient) -> None:
    shared(patient, clinician)
    client.force_login(viewer)
    assert client.get(withdraw_url(patient)).status_code == 403
    assert client.post(withdraw_url(patient), {"reason": "x"}).status_code == 403
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


def test_a_clinician_of_another_team_cannot_stop_sharing(
    client, clinician, other_team_clinician, patient
) -> None:
    shared(patient, clinician)
    client.force_login(other_team_clinician)
    assert client.post(withdraw_url(patient), {"reason": "x"}).status_code == 404
    assert Enrolment.objects.get().status == Enrolment.Status.ACTIVE


def test_stopping_a_patient_not_shared_says_so(client, clinician, patient) -> None:
    client.force_login(clinician)
    response = client.get(withdraw_url(patient))
    assertRedirects(response, panel_url(patient))
    assert page_messages(response) == ["This patient is not shared with Patients Know Best."]


# ---------------------------------------------------------------------------
# The invitation
# ---------------------------------------------------------------------------
def registered(patient: Patient, actor, **fields) -> Enrolment:
    enrolment = shared(patient, actor)
    Enrolment.objects.filter(pk=enrolment.pk).update(registered_at=timezone.now(), **fields)
    enrolment.refresh_from_db()
    return enrolment


def test_a_clinician_resends_the_invitation(client, clinician, team) -> None:
    patient = PatientFactory(teams=[team], email="patient@example.com")
    registered(patient, clinician, invitation=Enrolment.Invitation.SENT)
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    assertContains(response, "Resend invitation")
    response = client.post(resend_url(patient))
    assertRedirects(response, panel_url(patient))
    assert page_messages(response) == ["The invitation email will be sent again."]
    assert Enrolment.objects.get().invitation == Enrolment.Invitation.QUEUED


def test_resending_to_a_patient_without_email_says_the_team_must_help(
    client, clinician, patient
) -> None:
    registered(patient, clinician, invitation=Enrolment.Invitation.NO_EMAIL)
    client.force_login(clinician)
    response = client.post(resend_url(patient), headers=HTMX)
    assertContains(response, "No email is recorded for this patient")
    assert Enrolment.objects.get().invitation == Enrolment.Invitation.NO_EMAIL


def test_a_viewer_cannot_resend_the_invitation(client, viewer, clinician, team) -> None:
    patient = PatientFactory(teams=[team], email="patient@example.com")
    registered(patient, clinician, invitation=Enrolment.Invitation.SENT)
    client.force_login(viewer)
    assert client.post(resend_url(patient)).status_code == 403
    assert Enrolment.objects.get().invitation == Enrolment.Invitation.SENT


def test_a_clinician_of_another_team_cannot_resend_the_invitation(
    client, clinician, other_team_clinician, team
) -> None:
    patient = PatientFactory(teams=[team], email="patient@example.com")
    registered(patient, clinician, invitation=Enrolment.Invitation.SENT)
    client.force_login(other_team_clinician)
    assert client.post(resend_url(patient)).status_code == 404
    assert Enrolment.objects.get().invitation == Enrolment.Invitation.SENT


# ---------------------------------------------------------------------------
# Releasing and holding items
# ---------------------------------------------------------------------------
def test_a_clinician_releases_a_held_item_and_the_decision_is_recorded(
    client, clinician, patient, hold_labs
) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    assert publication.state == Publication.State.HELD
    assert OutboundMessage.objects.filter(kind=Kind.LAB).count() == 0
    client.force_login(clinician)
    assertContains(client.get(panel_url(patient)), "Not sent: held")
    response = client.post(decision_url(publication, "release"), {"reason": "Discussed in clinic"})
    assertRedirects(response, panel_url(patient))
    publication.refresh_from_db()
    assert publication.state == Publication.State.RELEASED
    decision = PublicationDecision.objects.filter(publication=publication).latest("id")
    assert (decision.state, decision.decided_by, decision.reason) == (
        "released",
        clinician,
        "Discussed in clinic",
    )
    assert OutboundMessage.objects.filter(kind=Kind.LAB, status=Status.PENDING).count() == 1


def test_a_clinician_holds_an_item_not_yet_sent_and_its_message_is_cancelled(
    client, clinician, patient
) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    publication_release_first = publication.message
    # A later release (its own message) is what holding can still stop.
    services.publication_hold(publication=publication, actor=clinician)
    services.publication_release(publication=publication, actor=clinician)
    publication.refresh_from_db()
    assert publication.message != publication_release_first
    client.force_login(clinician)
    response = client.post(decision_url(publication, "hold"), headers=HTMX)
    assertContains(response, "The item is held back from the patient.")
    publication.refresh_from_db()
    assert publication.state == Publication.State.HELD
    assert publication.message.status == Status.CANCELLED
    decision = PublicationDecision.objects.filter(publication=publication).latest("id")
    assert (decision.state, decision.decided_by) == ("held", clinician)


def test_no_hold_is_offered_for_a_historic_result_packed_with_others_and_waiting(
    client, clinician, patient
) -> None:
    lab_result(patient, days_ago=40)
    lab_result(patient, days_ago=20)
    shared(patient, clinician)
    client.force_login(clinician)
    response = client.get(panel_url(patient))
    # Holding one could not take it out of the message that carries both.
    assertNotContains(response, "/hold/")
    assertContains(response, "Waiting to be sent", count=2)


def test_holding_an_item_pkb_already_has_is_refused_with_the_reason(
    client, clinician, patient, hold_labs
) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    services.publication_release(publication=publication, actor=clinician)
    publication.refresh_from_db()
    OutboundMessage.objects.filter(pk=publication.message_id).update(status=Status.DELIVERED)
    client.force_login(clinician)
    response = client.post(decision_url(publication, "hold"), headers=HTMX)
    assert response.status_code == 200
    assertContains(response, "PKB already has this item")
    publication.refresh_from_db()
    assert publication.state == Publication.State.RELEASED


def test_a_reason_longer_than_a_decision_holds_is_refused(
    client, clinician, patient, hold_labs
) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    client.force_login(clinician)
    response = client.post(decision_url(publication, "release"), {"reason": "x" * 201})
    assert page_messages(response) == ["The reason can be at most 200 characters."]
    assert Publication.objects.get().state == Publication.State.HELD


def test_a_viewer_cannot_release_or_hold(client, viewer, clinician, patient, hold_labs) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    client.force_login(viewer)
    assert client.post(decision_url(publication, "release")).status_code == 403
    assert client.post(decision_url(publication, "hold")).status_code == 403
    assert Publication.objects.get().state == Publication.State.HELD


def test_a_clinician_of_another_team_cannot_release(
    client, clinician, other_team_clinician, patient, hold_labs
) -> None:
    lab_result(patient)
    shared(patient, clinician)
    publication = Publication.objects.get()
    client.force_login(other_team_clinician)
    assert client.post(decision_url(publication, "release")).status_code == 404
    assert Publication.objects.get().state == Publication.State.HELD


def test_an_item_of_another_patient_is_not_found(
    client, clinician, patient, team, hold_labs
) -> None:
    other = PatientFactory(teams=[team])
    lab_result(other)
    shared(other, clinician)
    publication = Publication.objects.get()
    item = publication.result
    client.force_login(clinician)
    url = reverse("pkb:publication_release", args=[patient.public_id, item.public_id])
    assert client.post(url).status_code == 404
    assert Publication.objects.get().state == Publication.State.HELD


# ---------------------------------------------------------------------------
# The delivery view
# ---------------------------------------------------------------------------
@pytest.fixture
def superuser(db):
    return UserFactory(username="root", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(team):
    """Staff (not a superuser) who is a team admin of ``team``."""
    user = UserFactory(username="staff", is_staff=True)
    MembershipFactory(user=user, team=team, role=Role.TEAM_ADMIN)
    return user


@pytest.fixture
def other_team_staff(other_team):
    user = UserFactory(username="otherstaff", is_staff=True)
    MembershipFactory(user=user, team=other_team, role=Role.TEAM_ADMIN)
    return user


def reject(message: OutboundMessage, text: str) -> None:
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.REJECTED, ack_code="AR", ack_text=text
    )


def test_the_delivery_view_sends_an_anonymous_user_to_log_in(client) -> None:
    url = reverse("pkb:delivery")
    assertRedirects(
        client.get(url), f"{reverse('login')}?next={url}", fetch_redirect_response=False
    )


def test_the_delivery_view_is_for_staff_only(client, clinician) -> None:
    client.force_login(clinician)
    assert client.get(reverse("pkb:delivery")).status_code == 403


def test_the_delivery_view_shows_counts_age_rejections_blocked_and_onboarding(
    client, superuser, clinician, patient, other_patient, other_team_clinician
) -> None:
    lab_result(patient)
    enrolment = shared(patient, clinician)
    registration = OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION)
    reject(registration, "PID-3: NHS number not recognised")
    OutboundMessage.objects.filter(enrolment=enrolment, kind=Kind.LAB).update(
        created_at=timezone.now() - dt.timedelta(hours=3, minutes=1)
    )
    other = shared(other_patient, other_team_clinician)
    Enrolment.objects.filter(pk=other.pk).update(invitation=Enrolment.Invitation.NO_EMAIL)
    client.force_login(superuser)
    response = client.get(reverse("pkb:delivery"))
    counts = dict(response.context["status_counts"])
    assert counts["Waiting to be sent"] == 2
    assert counts["Rejected by PKB"] == 1
    assert counts["Accepted by PKB"] == 0
    assert response.context["oldest_pending_age"].replace("\xa0", " ") == "3 hours, 1 minute"
    assertContains(response, "PID-3: NHS number not recognised", count=2)  # rejections, blocked
    assertContains(
        response, reverse("admin:pkb_bridge_outboundmessage_change", args=[registration.pk])
    )
    assertContains(response, reverse("pkb:delivery_patient", args=[patient.public_id]))
    assertContains(response, other_patient.family_name.upper())
    assertContains(response, "No email recorded")
    assertContains(response, "All patients.")
    # The patients named on the page are on the access log (docs/security.md, "Audit").
    event = AccessEvent.objects.get(user=superuser, action="PKB delivery")
    assert set(event.patients.values_list("pk", flat=True)) == {patient.pk, other_patient.pk}


def test_staff_see_only_their_teams_patients_in_the_delivery_view(
    client, staff, clinician, patient, other_patient, other_team_clinician
) -> None:
    shared(patient, clinician)
    other = shared(other_patient, other_team_clinician)
    reject(OutboundMessage.objects.get(enrolment=other), "Other team's rejection")
    Enrolment.objects.filter(pk=other.pk).update(invitation=Enrolment.Invitation.FAILED)
    client.force_login(staff)
    response = client.get(reverse("pkb:delivery"))
    counts = dict(response.context["status_counts"])
    assert counts["Waiting to be sent"] == 1
    assert counts["Rejected by PKB"] == 0
    assertNotContains(response, "Other team's rejection")
    assertNotContains(response, other_patient.family_name.upper())
    assertContains(response, "Patients of your teams only.")


def test_a_paused_connection_is_shown_with_its_reason_and_resumed_by_a_superuser(
    client, superuser, staff
) -> None:
    Connection.objects.update_or_create(
        name="pkb",
        defaults={"paused": True, "paused_at": timezone.now(), "paused_reason": "HTTP 401"},
    )
    client.force_login(staff)
    response = client.get(reverse("pkb:delivery"))
    assertContains(response, "Reason: HTTP 401")
    assertNotContains(response, "Resume sending")
    assert client.post(reverse("pkb:connection_resume")).status_code == 403
    assert Connection.objects.get(name="pkb").paused

    client.force_login(superuser)
    assertContains(client.get(reverse("pkb:delivery")), "Resume sending")
    response = client.post(reverse("pkb:connection_resume"))
    assertRedirects(response, reverse("pkb:delivery"))
    connection = Connection.objects.get(name="pkb")
    assert not connection.paused
    assert connection.resumed_by == superuser


def test_a_patients_delivery_history_lists_messages_in_order_with_attempts(
    client, staff, clinician, patient
) -> None:
    lab_result(patient)
    enrolment = shared(patient, clinician)
    registration = OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION)
    now = timezone.now()
    DeliveryAttempt.objects.create(
        message=registration,
        started_at=now - dt.timedelta(minutes=5),
        finished_at=now - dt.timedelta(minutes=5),
        outcome=DeliveryAttempt.Outcome.TRANSIENT,
        error_kind="timeout",
        error="PKB did not answer within 30 s",
    )
    DeliveryAttempt.objects.create(
        message=registration,
        started_at=now,
        finished_at=now,
        outcome=DeliveryAttempt.Outcome.ACCEPTED,
        http_status=200,
        ack_code="AA",
    )
    OutboundMessage.objects.filter(pk=registration.pk).update(
        status=Status.DELIVERED, delivered_at=now
    )
    client.force_login(staff)
    response = client.get(reverse("pkb:delivery_patient", args=[patient.public_id]))
    assert [row.message.seq for row, _ in response.context["history"]] == [1, 2]
    content = response.content.decode()
    assert content.index("Failed, will retry") < content.index("Accepted (AA)")
    assertContains(response, "PKB did not answer within 30 s")
    event = AccessEvent.objects.filter(action="pkb_delivery").get()
    assert (event.user, event.patient, event.outcome) == (staff, patient, "allowed")


def test_staff_of_another_team_cannot_open_a_patients_delivery_history(
    client, other_team_staff, clinician, patient
) -> None:
    shared(patient, clinician)
    client.force_login(other_team_staff)
    url = reverse("pkb:delivery_patient", args=[patient.public_id])
    assert client.get(url).status_code == 404
    assert AccessEvent.objects.get().outcome == "denied"


def test_a_superuser_opens_any_patients_delivery_history(
    client, superuser, clinician, patient
) -> None:
    shared(patient, clinician)
    client.force_login(superuser)
    url = reverse("pkb:delivery_patient", args=[patient.public_id])
    assertContains(client.get(url), "Registration (ADT^A28)")


def _fill(team, clinician, patients: int) -> None:
    for _ in range(patients):
        patient = PatientFactory(teams=[team])
        lab_result(patient)
        enrolment = shared(patient, clinician)
        reject(OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION), "No")
        Enrolment.objects.filter(pk=enrolment.pk).update(invitation=Enrolment.Invitation.FAILED)


def test_the_delivery_view_costs_the_same_queries_however_many_rows(
    client, staff, clinician, team, django_assert_max_num_queries
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(staff)
    _fill(team, clinician, 2)
    with CaptureQueriesContext(connection) as few:
        client.get(reverse("pkb:delivery"))
    _fill(team, clinician, 8)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("pkb:delivery"))
    assert len(response.context["rejections"]) == 10


def test_a_patients_history_costs_the_same_queries_however_many_messages(
    client, staff, clinician, patient, django_assert_max_num_queries
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    enrolment = shared(patient, clinician)
    url = reverse("pkb:delivery_patient", args=[patient.public_id])
    client.force_login(staff)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    now = timezone.now()
    for n in range(8):
        result = lab_result(patient, days_ago=n + 1, name=f"PSA {n}")
        services.on_result_recorded(result=result)
    for message in OutboundMessage.objects.filter(enrolment=enrolment):
        DeliveryAttempt.objects.create(
            message=message, started_at=now, finished_at=now, outcome="transient"
        )
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(url)
    assert len(response.context["history"]) == 9
