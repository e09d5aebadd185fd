"""Django admin of the PKB bridge: who sees which rows, what is read-only, and the actions
(resend an invitation, requeue or cancel a message, resume the connection)."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains

from pkb_bridge import services
from pkb_bridge.models import (
    Connection,
    DeliveryAttempt,
    Enrolment,
    OutboundMessage,
    Publication,
    ReleasePolicy,
)
from rms.models import AccessEvent, Role
from tests.factories import MembershipFactory, PatientFactory, ResultFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = OutboundMessage.Status
Kind = OutboundMessage.Kind
MODELS = (
    "enrolment",
    "releasepolicy",
    "publication",
    "publicationdecision",
    "outboundmessage",
    "deliveryattempt",
    "connection",
)


def change_url(obj) -> str:
    return reverse(f"admin:pkb_bridge_{obj._meta.model_name}_change", args=[obj.pk])


def changelist_url(model) -> str:
    return reverse(f"admin:pkb_bridge_{model._meta.model_name}_changelist")


def _staff(username: str, team, role: str):
    """A staff user (not a superuser) with the model permissions an administrator grants."""
    user = UserFactory(username=username, is_staff=True)
    MembershipFactory(user=user, team=team, role=role)
    codenames = [f"{a}_{m}" for m in MODELS for a in ("view", "add", "change", "delete")]
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="pkb_bridge", codename__in=codenames)
    )
    return user


@pytest.fixture
def staff(team):
    return _staff("staff", team, Role.TEAM_ADMIN)


@pytest.fixture
def staff_clinician(team):
    """Staff, but a clinician of the team rather than its team admin."""
    return _staff("staffclinician", team, Role.CLINICIAN)


@pytest.fixture
def enrolment(patient, clinician) -> Enrolment:
    ResultFactory(patient=patient)
    return services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )


@pytest.fixture
def other_enrolment(other_patient, other_team_clinician) -> Enrolment:
    return services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed",
        patient=other_patient,
        actor=other_team_clinician,
    )


def run_action(client, model, action: str, objects) -> object:
    return client.post(
        changelist_url(model),
        {
            "action": action,
            helpers.ACTION_CHECKBOX_NAME: [str(obj.pk) for obj in objects],
            "select_across": "0",
            "index": "0",
        },
    )


# ---------------------------------------------------------------------------
# Enrolments
# ---------------------------------------------------------------------------
def test_a_superuser_sees_every_enrolment(admin_client, enrolment, other_enrolment) -> None:
    response = admin_client.get(changelist_url(Enrolment))
    assertContains(response, change_url(enrolment))
    assertContains(response, change_url(other_enrolment))
    assertContains(response, str(enrolment.patient.public_id))


def test_staff_see_only_their_teams_enrolments(client, staff, enrolment, other_enrolment) -> None:
    client.force_login(staff)
    response = client.get(changelist_url(Enrolment))
    assertContains(response, change_url(enrolment))
    assertNotContains(response, change_url(other_enrolment))
    assert client.get(change_url(other_enrolment)).status_code == 302  # "does not exist"


def test_an_enrolment_is_read_only_and_opening_it_is_logged(client, staff, enrolment) -> None:
    client.force_login(staff)
    response = client.get(change_url(enrolment))
    assert response.status_code == 200
    assert list(response.context["adminform"].form.fields) == []
    event = AccessEvent.objects.get(channel="admin")
    assert (event.user, event.patient, event.action) == (staff, enrolment.patient, "pkb enrolment")


def test_the_enrolment_list_filters_by_status_and_invitation(
    admin_client, enrolment, other_enrolment
) -> None:
    Enrolment.objects.filter(pk=other_enrolment.pk).update(invitation=Enrolment.Invitation.NO_EMAIL)
    response = admin_client.get(changelist_url(Enrolment), {"invitation__exact": "no_email"})
    assertContains(response, change_url(other_enrolment))
    assertNotContains(response, change_url(enrolment))


def test_the_resend_action_queues_the_invitation_again(client, staff, clinician, team) -> None:
    patient = PatientFactory(teams=[team], email="patient@example.com")
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    Enrolment.objects.filter(pk=enrolment.pk).update(
        registered_at=timezone.now(), invitation=Enrolment.Invitation.FAILED
    )
    client.force_login(staff)
    response = run_action(client, Enrolment, "resend_invitation", [enrolment])
    assert response.status_code == 302
    enrolment.refresh_from_db()
    assert enrolment.invitation == Enrolment.Invitation.QUEUED
    assert enrolment.invitation_attempts == 0


def test_the_resend_action_cannot_reach_another_teams_enrolment(
    client, staff, other_team_clinician, other_team
) -> None:
    patient = PatientFactory(teams=[other_team], email="patient@example.com")
    enrolment = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed",
        patient=patient,
        actor=other_team_clinician,
    )
    Enrolment.objects.filter(pk=enrolment.pk).update(
        registered_at=timezone.now(), invitation=Enrolment.Invitation.FAILED
    )
    client.force_login(staff)
    run_action(client, Enrolment, "resend_invitation", [enrolment])
    enrolment.refresh_from_db()
    assert enrolment.invitation == Enrolment.Invitation.FAILED


# ---------------------------------------------------------------------------
# Release policies
# ---------------------------------------------------------------------------
@pytest.fixture
def policies(team, other_team) -> tuple[ReleasePolicy, ReleasePolicy]:
    return (
        ReleasePolicy.objects.create(team=team, category="lab", mode="immediate"),
        ReleasePolicy.objects.create(team=other_team, category="lab", mode="immediate"),
    )


def policy_data(policy: ReleasePolicy, **changes) -> dict[str, object]:
    data: dict[str, object] = {
        "team": policy.team_id,
        "category": policy.category,
        "mode": policy.mode,
        "delay_days": policy.delay_days,
        "auto_release_days": policy.auto_release_days or "",
    }
    data.update(changes)
    return data


def test_a_team_admin_sees_and_changes_only_their_teams_policies(client, staff, policies) -> None:
    mine, theirs = policies
    client.force_login(staff)
    response = client.get(changelist_url(ReleasePolicy))
    assertContains(response, change_url(mine))
    assertNotContains(response, change_url(theirs))
    response = client.post(change_url(mine), policy_data(mine, mode="delay", delay_days=7))
    assert response.status_code == 302
    mine.refresh_from_db()
    assert (mine.mode, mine.delay_days, mine.updated_by) == ("delay", 7, staff)
    response = client.post(change_url(theirs), policy_data(theirs, mode="hold"))
    theirs.refresh_from_db()
    assert theirs.mode == "immediate"


def test_a_delay_without_days_is_refused_on_the_form(client, staff, policies) -> None:
    mine, _ = policies
    client.force_login(staff)
    response = client.post(change_url(mine), policy_data(mine, mode="delay", delay_days=0))
    assert response.status_code == 200
    mine.refresh_from_db()
    assert mine.mode == "immediate"


def test_a_team_admin_adds_a_policy_only_for_their_team(client, staff, team, other_team) -> None:
    client.force_login(staff)
    response = client.get(reverse("admin:pkb_bridge_releasepolicy_add"))
    choices = list(response.context["adminform"].form.fields["team"].queryset)
    assert choices == [team]
    data = {"team": other_team.pk, "category": "document", "mode": "hold", "delay_days": 0}
    response = client.post(reverse("admin:pkb_bridge_releasepolicy_add"), data)
    assert response.status_code == 200  # the other team is not a valid choice
    assert not ReleasePolicy.objects.exists()
    data["team"] = team.pk
    response = client.post(reverse("admin:pkb_bridge_releasepolicy_add"), data)
    assert response.status_code == 302
    assert ReleasePolicy.objects.get().updated_by == staff


def test_a_clinician_who_is_staff_sees_the_policies_but_cannot_change_them(
    client, staff_clinician, policies
) -> None:
    mine, _ = policies
    client.force_login(staff_clinician)
    assertContains(client.get(changelist_url(ReleasePolicy)), change_url(mine))
    response = client.post(change_url(mine), policy_data(mine, mode="hold"))
    assert response.status_code == 403
    mine.refresh_from_db()
    assert mine.mode == "immediate"
    assert client.get(reverse("admin:pkb_bridge_releasepolicy_add")).status_code == 403


# ---------------------------------------------------------------------------
# Publications
# ---------------------------------------------------------------------------
def test_a_publication_shows_its_decisions_and_cannot_be_changed(
    client, staff, clinician, enrolment
) -> None:
    publication = Publication.objects.get(enrolment=enrolment)
    services.publication_hold(publication=publication, actor=clinician, reason="Awaiting MDT")
    client.force_login(staff)
    response = client.get(change_url(publication))
    assertContains(response, "Awaiting MDT")
    assertContains(response, "Team policy: release at once")
    assert response.context["has_change_permission"] is False
    response = client.post(change_url(publication), {"state": "released"})
    assert response.status_code == 403


def test_staff_do_not_see_another_teams_publications(
    client, staff, enrolment, other_patient, other_team_clinician
) -> None:
    ResultFactory(patient=other_patient)
    theirs = services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed",
        patient=other_patient,
        actor=other_team_clinician,
    )
    client.force_login(staff)
    response = client.get(changelist_url(Publication))
    assertContains(response, change_url(Publication.objects.get(enrolment=enrolment)))
    assertNotContains(response, change_url(Publication.objects.get(enrolment=theirs)))


# ---------------------------------------------------------------------------
# The outbox
# ---------------------------------------------------------------------------
def test_the_message_list_shows_the_queue_columns(admin_client, enrolment) -> None:
    registration = OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION)
    OutboundMessage.objects.filter(pk=registration.pk).update(
        status=Status.REJECTED, ack_code="AR", ack_text="Unknown NHS number"
    )
    response = admin_client.get(changelist_url(OutboundMessage))
    assertContains(response, str(enrolment.patient.public_id))
    assertContains(response, "Registration (ADT^A28)")
    assertContains(response, "Rejected by PKB")
    assertContains(response, "Unknown NHS number")
    response = admin_client.get(changelist_url(OutboundMessage), {"status__exact": "pending"})
    assertNotContains(response, change_url(registration))


def test_messages_are_found_by_control_id(admin_client, enrolment) -> None:
    first, second = OutboundMessage.objects.filter(enrolment=enrolment).order_by("seq")
    response = admin_client.get(changelist_url(OutboundMessage), {"q": second.control_id})
    assertContains(response, change_url(second))
    assertNotContains(response, change_url(first))


def test_staff_see_only_their_teams_messages(client, staff, enrolment, other_enrolment) -> None:
    client.force_login(staff)
    response = client.get(changelist_url(OutboundMessage))
    mine = OutboundMessage.objects.filter(enrolment=enrolment).first()
    theirs = OutboundMessage.objects.get(enrolment=other_enrolment)
    assertContains(response, change_url(mine))
    assertNotContains(response, change_url(theirs))
    assert client.get(change_url(theirs)).status_code == 302


def test_a_message_shows_its_payload_one_segment_a_line_and_its_attempts_without_bodies(
    client, staff, enrolment
) -> None:
    message = OutboundMessage.objects.get(enrolment=enrolment, kind=Kind.REGISTRATION)
    now = timezone.now()
    DeliveryAttempt.objects.create(
        message=message,
        started_at=now,
        finished_at=now,
        outcome=DeliveryAttempt.Outcome.TRANSIENT,
        error="connection refused",
        request_body=b"<soap>REQUEST-BYTES</soap>",
        response_body=b"RESPONSE-BYTES",
    )
    client.force_login(staff)
    response = client.get(change_url(message))
    content = response.content.decode()
    assert "\nPID|" in content and "\rPID|" not in content
    assertContains(response, "connection refused")
    assertNotContains(response, "REQUEST-BYTES")
    assertNotContains(response, "RESPONSE-BYTES")
    assert list(response.context["adminform"].form.fields) == []
    response = client.get(change_url(message), {"bodies": "1"})
    assertContains(response, "REQUEST-BYTES")
    assertContains(response, "RESPONSE-BYTES")


def test_the_requeue_action_sends_a_rejected_message_again(client, staff, enrolment) -> None:
    registration, lab = OutboundMessage.objects.filter(enrolment=enrolment).order_by("seq")
    OutboundMessage.objects.filter(pk=registration.pk).update(
        status=Status.REJECTED, ack_code="AR", ack_text="Unknown NHS number"
    )
    client.force_login(staff)
    response = run_action(client, OutboundMessage, "requeue_selected", [registration, lab])
    assert response.status_code == 302
    registration.refresh_from_db()
    lab.refresh_from_db()
    assert registration.status == Status.PENDING
    assert registration.last_error == "Requeued by staff"
    assert lab.status == Status.PENDING  # was pending: left as it was


def test_the_cancel_action_cancels_a_waiting_message_but_not_a_delivered_one(
    client, staff, enrolment
) -> None:
    registration, lab = OutboundMessage.objects.filter(enrolment=enrolment).order_by("seq")
    OutboundMessage.objects.filter(pk=registration.pk).update(status=Status.DELIVERED)
    client.force_login(staff)
    run_action(client, OutboundMessage, "cancel_selected", [registration, lab])
    registration.refresh_from_db()
    lab.refresh_from_db()
    assert registration.status == Status.DELIVERED
    assert lab.status == Status.CANCELLED
    assert lab.cancelled_reason == "staff: Cancelled in admin"


def test_the_actions_cannot_reach_another_teams_messages(client, staff, other_enrolment) -> None:
    message = OutboundMessage.objects.get(enrolment=other_enrolment)
    client.force_login(staff)
    run_action(client, OutboundMessage, "cancel_selected", [message])
    message.refresh_from_db()
    assert message.status == Status.PENDING


def test_messages_cannot_be_added_or_deleted(admin_client, enrolment) -> None:
    message = OutboundMessage.objects.filter(enrolment=enrolment).first()
    assert admin_client.get(reverse("admin:pkb_bridge_outboundmessage_add")).status_code == 403
    delete = reverse("admin:pkb_bridge_outboundmessage_delete", args=[message.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert OutboundMessage.objects.filter(pk=message.pk).exists()


# ---------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------
@pytest.fixture
def paused() -> Connection:
    connection, _ = Connection.objects.update_or_create(
        name="pkb",
        defaults={"paused": True, "paused_at": timezone.now(), "paused_reason": "HTTP 403"},
    )
    return connection


def test_a_superuser_resumes_a_paused_connection(admin_client, admin_user, paused) -> None:
    response = admin_client.get(changelist_url(Connection))
    assertContains(response, "HTTP 403")
    run_action(admin_client, Connection, "resume_sending", [paused])
    paused.refresh_from_db()
    assert not paused.paused
    assert paused.resumed_by == admin_user


def test_staff_cannot_resume_the_connection(client, staff, paused) -> None:
    client.force_login(staff)
    response = client.get(changelist_url(Connection))
    assert response.status_code == 200
    assertNotContains(response, "resume_sending")
    run_action(client, Connection, "resume_sending", [paused])
    paused.refresh_from_db()
    assert paused.paused
