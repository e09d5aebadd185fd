"""A patient whose NHS number stops being verified after they were shared with PKB: nothing
more is sent (PKB would route it to manual review) and the team has a work item, until the
number is verified again; then the held messages go, in order, carrying the verified status.
Through the real path: the dispatcher sending to the PKB sandbox over real HTTP, the sandbox
checking NHS number status as PKB does when an organisation turns the check on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse

from devtools.sandbox import SandboxServer, SandboxState
from pkb_bridge import services
from pkb_bridge.models import OutboundMessage
from rms import services as rms_services
from tests.factories import UserFactory
from tests.pkb_bridge.records import lab
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db
Status = OutboundMessage.Status


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """PKB with NHS number status checking on (PKB interface §5.3)."""
    server = SandboxServer(
        username="rms", password="pw", state=SandboxState(nhs_status_checking=True)
    )
    server.start()
    yield server
    server.stop()


def drain(transport) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        if not services.dispatch(transport=transport, budget_s=10):
            break


def test_messages_after_the_nhs_number_stops_being_verified_wait_and_then_go_in_order(
    client, patient, team, clinician, team_admin, sandbox, transport
) -> None:
    """PKB interface §5.3 ("With NHS number status checking on, a status of 02 or 03 sends
    the message to the Organisation Admin queue for manual review. Send 01") and §11.2 (the
    status codes); reliability reference §1.7 item 3 (per-patient order). A shared patient's
    status goes 01 → 02: two new results are held, not sent, the team gets one work item and
    the pages say why; back to 01: the item closes and the results reach PKB in order, each
    with NH{status:01} and NSTS01, and PKB files them (none quarantined)."""
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport)
    assert len(sandbox.state.messages()) == 1

    rms_services.patient_update(
        patient=patient, actor=team_admin, nhs_number_status="02", status_reason="PDS query"
    )
    item = WorkItem.objects.get(kind=WorkItem.Kind.DELIVERY_FAILURE)
    assert (item.patient, item.team) == (patient, team)
    assert "no longer verified" in item.title
    lab(patient, clinician, "FON-A")
    lab(patient, clinician, "FON-B")
    drain(transport)
    assert len(sandbox.state.messages()) == 1, "nothing sent while the number is unverified"
    held = list(OutboundMessage.objects.filter(status=Status.PENDING).order_by("seq"))
    assert [m.kind for m in held] == [OutboundMessage.Kind.LAB, OutboundMessage.Kind.LAB]
    assert all("NH{status:02}" in m.payload for m in held)

    client.force_login(clinician)
    panel = client.get(reverse("pkb:patient_panel", args=[patient.public_id])).content.decode()
    assert "Held: the patient&#x27;s NHS number is not verified" in panel
    admin = UserFactory(username="admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get(reverse("pkb:delivery")).content.decode()
    assert "Held: NHS number no longer verified" in page and "#2" in page

    rms_services.patient_update(
        patient=patient, actor=team_admin, nhs_number_status="01", status_reason="PDS traced"
    )
    item.refresh_from_db()
    assert (item.status, item.outcome) == (WorkItem.Status.DONE, "NHS number verified")
    drain(transport)
    log = sandbox.state.messages()
    ours = list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))
    assert {m.status for m in ours} == {Status.DELIVERED}
    assert [entry["control_id"] for entry in log] == [m.control_id for m in ours]
    assert [m.kind for m in ours[1:3]] == [OutboundMessage.Kind.LAB, OutboundMessage.Kind.LAB]
    for message in ours[1:3]:
        assert "NH{status:01}" in message.payload and "|NSTS01" in message.payload
        sent = bytes(message.deliveries.get().request_body).decode()
        assert "NH{status:01}" in sent and "NH{status:02}" not in sent
    assert not any("quarantined" in " ".join(entry["notes"]) for entry in log), (
        "PKB filed everything; nothing went to manual review"
    )
    assert set(sandbox.state.patient(patient.nhs_number)["lab_results"]) == {"FON-A", "FON-B"}


def test_a_patient_whose_number_is_verified_is_not_held_by_another_patients(
    patient, other_patient, clinician, team_admin, other_team_clinician, sandbox, transport
) -> None:
    """Reliability reference §5.1 O23 (a problem with patient A does not stop B...Z): only the
    unverified patient's messages wait."""
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    services.enrolment_opt_in(
        patient=other_patient,
        actor=other_team_clinician,
        attestation="Consented in clinic, paper form filed",
    )
    rms_services.patient_update(
        patient=patient, actor=team_admin, nhs_number_status="03", status_reason="PDS query"
    )
    lab(patient, clinician, "FON-HELD")
    lab(other_patient, other_team_clinician, "FON-GOES")
    drain(transport)
    assert OutboundMessage.objects.filter(patient=patient, status=Status.PENDING).count() == 2
    assert set(
        OutboundMessage.objects.filter(patient=other_patient).values_list("status", flat=True)
    ) == {Status.DELIVERED}
    assert "FON-GOES" in sandbox.state.patient(other_patient.nhs_number)["lab_results"]
