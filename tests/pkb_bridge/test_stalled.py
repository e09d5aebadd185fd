"""A message that fails again and again does not stall a patient's queue unseen: after
PKB_STALL_AFTER_ATTEMPTS failed attempts in a row, or PKB_STALL_AFTER_HOURS of them, it is
"stalled": still retried (the same bytes, the same MSH-10), an administrator's work item is
raised, the delivery page lists it and a gauge counts it. Through the real path: the
dispatcher sending to the PKB sandbox over real HTTP, the sandbox failing as told."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from pkb_bridge import services
from pkb_bridge.models import DeliveryAttempt, OutboundMessage
from pkb_bridge.presenters import patient_name
from rms.models import Role
from tests.factories import PatientFactory, UserFactory
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status

# PKB failing in each way that leaves the outcome unknown (reliability reference §5.1 O8:
# "5xx and garbage: transient retry"; PKB interface §3.3: retries are for no response).
FOREVER = 1000
FAILURES = {
    "http_503": {"status": 503},
    "soap_fault": {"soap_fault_next": FOREVER},
    "no_ack": {"non_soap_next": FOREVER},
}


def send_round(transport, moment: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    """One dispatcher run at ``moment`` (each message due then is tried once)."""
    with time_machine.travel(moment, tick=False):
        services.dispatch(transport=transport, budget_s=5)


def stalled_gauge(client) -> float:  # type: ignore[no-untyped-def]
    body = client.get("/metrics").content.decode()
    for family in text_string_to_metric_families(body):
        if family.name == "rms_pkb_outbox_stalled_messages":
            return family.samples[0].value
    raise AssertionError("rms_pkb_outbox_stalled_messages is not served")


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_message_failing_again_and_again_stalls_visibly_and_goes_when_pkb_takes_it(
    failure, patient, clinician, sandbox, transport, settings, client
) -> None:
    """Reliability reference §1.7 item 5 ("retry the same bytes with backoff, forever, and
    alert after a threshold") and §6 ("Alerting"); PKB interface §3.3 (retries help when no
    response comes back). With PKB_STALL_AFTER_ATTEMPTS=3: two failures are retries only; the
    third makes the registration stalled with an administrator's item (no team), a row on the
    delivery page and the gauge at 1; the patient's later messages wait behind it; when PKB
    answers again it is delivered with the same MSH-10, the item closes and the gauge is 0."""
    settings.PKB_STALL_AFTER_ATTEMPTS = 3
    settings.PKB_STALL_AFTER_HOURS = 100.0
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    registration = OutboundMessage.objects.get(kind=OutboundMessage.Kind.REGISTRATION)
    sandbox.set_faults(**FAILURES[failure])
    start = timezone.now()
    for round_ in range(2):
        send_round(transport, start + dt.timedelta(minutes=20 * round_))
    registration.refresh_from_db()
    assert (registration.status, registration.failures, registration.stalled_at) == (
        Status.PENDING,
        2,
        None,
    )
    assert not WorkItem.objects.exists()

    send_round(transport, start + dt.timedelta(minutes=40))
    registration.refresh_from_db()
    assert registration.status == Status.PENDING, "still retried"
    assert registration.stalled_at is not None
    item = WorkItem.objects.get()
    assert (item.kind, item.team, item.patient) == (WorkItem.Kind.DELIVERY_FAILURE, None, None)
    assert "failed 3 times in a row" in item.explanation
    assert item.details["outbound_message"] == str(registration.public_id)
    assert DeliveryAttempt.objects.filter(message=registration, outcome="transient").count() == 3
    assert (
        not OutboundMessage.objects.filter(patient=patient, attempts__gt=0)
        .exclude(pk=registration.pk)
        .exists()
    ), "the patient's later messages wait behind it"

    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("pkb:delivery")).content.decode()
    assert "Stalled: 3 failed attempts in a row" in page
    assert stalled_gauge(client) == 1

    sandbox.set_faults(status=None, soap_fault_next=0, non_soap_next=0)
    for round_ in range(3):
        send_round(transport, start + dt.timedelta(hours=2 + round_))
    registration.refresh_from_db()
    assert registration.status == Status.DELIVERED
    assert {m["control_id"] for m in sandbox.state.messages()} >= {registration.control_id}
    assert set(
        OutboundMessage.objects.filter(patient=patient).values_list("status", flat=True)
    ) == {Status.DELIVERED}
    item.refresh_from_db()
    assert item.status == WorkItem.Status.DONE
    assert stalled_gauge(client) == 0


def test_a_message_failing_for_hours_stalls_even_with_few_attempts(
    patient, clinician, sandbox, transport, settings
) -> None:
    """Reliability reference §6 ("Oldest PENDING/HELD age > 15 min → page"): the threshold in
    time holds whatever the backoff. With PKB_STALL_AFTER_HOURS=1 and many attempts allowed,
    two failures 70 minutes apart stall the message."""
    settings.PKB_STALL_AFTER_ATTEMPTS = 100
    settings.PKB_STALL_AFTER_HOURS = 1.0
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    sandbox.set_faults(status=500)
    start = timezone.now()
    send_round(transport, start)
    assert OutboundMessage.objects.filter(stalled_at__isnull=False).count() == 0
    send_round(transport, start + dt.timedelta(minutes=70))
    stalled = OutboundMessage.objects.get(stalled_at__isnull=False)
    assert stalled.failures == 2
    assert WorkItem.objects.filter(kind=WorkItem.Kind.DELIVERY_FAILURE).count() == 1


def test_the_delivery_page_shows_a_stalled_message_only_to_staff_of_the_patients_team(
    patient, clinician, team, other_team, sandbox, transport, settings, client
) -> None:
    """Reliability and security reference §3.5 (team-scoped views, refused outside the
    scope): a staff member of another team does not see the stalled patient; one of the
    patient's team does."""
    from tests.factories import MembershipFactory

    settings.PKB_STALL_AFTER_ATTEMPTS = 1
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    sandbox.set_faults(status=503)
    send_round(transport, timezone.now())
    assert OutboundMessage.objects.filter(stalled_at__isnull=False).count() == 1

    outsider = UserFactory(username="outsider", is_staff=True)
    MembershipFactory(user=outsider, team=other_team, role=Role.TEAM_ADMIN)
    client.force_login(outsider)
    page = client.get(reverse("pkb:delivery")).content.decode()
    assert patient_name(patient) not in page
    assert "Stalled: 1 failed attempts" not in page

    insider = UserFactory(username="insider", is_staff=True)
    MembershipFactory(user=insider, team=team, role=Role.TEAM_ADMIN)
    client.force_login(insider)
    page = client.get(reverse("pkb:delivery")).content.decode()
    assert "Stalled: 1 failed attempts in a row" in page
    assert patient_name(patient) in page


def test_an_outage_stalling_many_patients_raises_a_few_items_and_one_saying_pkb_is_down(
    team, clinician, sandbox, transport, settings
) -> None:
    """Reliability reference §5.1 O1 (PKB down during a backfill: rows stay pending, alert,
    then everything drains in order) and §6 ("Alerting"); hazard log H3 (alert fatigue). An
    outage stalls every patient's head message at once: the first few get an item each, the
    rest share one urgent item saying PKB or the connection is probably down; when PKB is back
    and everything is delivered, every one of them closes itself."""
    from pkb_bridge.work_items import STALLED_ITEMS_AT_MOST

    settings.PKB_STALL_AFTER_ATTEMPTS = 1
    patients = [PatientFactory(teams=[team]) for _ in range(STALLED_ITEMS_AT_MOST + 3)]
    for someone in patients:
        services.enrolment_opt_in(
            patient=someone, actor=clinician, attestation="Consented in clinic, paper form filed"
        )
    sandbox.set_faults(status=503)
    start = timezone.now()
    send_round(transport, start)
    assert OutboundMessage.objects.filter(stalled_at__isnull=False).count() == len(patients)
    items = list(WorkItem.objects.order_by("id"))
    assert len(items) == STALLED_ITEMS_AT_MOST + 1
    outage = items[-1]
    assert outage.priority == WorkItem.Priority.URGENT and "PKB or the connection" in outage.title
    assert all(item.team is None for item in items), "administrators' items"

    sandbox.set_faults(status=None)
    for round_ in range(3):
        send_round(transport, start + dt.timedelta(hours=1 + round_))
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Status.DELIVERED}
    stalls = WorkItem.objects.filter(kind=WorkItem.Kind.DELIVERY_FAILURE)
    assert stalls.count() == STALLED_ITEMS_AT_MOST + 1
    assert set(stalls.values_list("status", flat=True)) == {WorkItem.Status.DONE}
