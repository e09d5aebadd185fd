"""Opting in checks consent and shows what will be published and held before it is confirmed.

From the issue "What a patient sees in PKB is what the lab and the clinician stand by" (Safer
opt-in): sharing a record needs the patient's consent to share (a consent record, or the
clinician's explicit statement of it, recorded with who and when); the clinician sees, before
confirming, how many items of each category will be published, which are held, and the open
threshold-breach work items; the results that are the evidence of an untriaged breach are held
until a clinician releases them, unless the clinician chooses otherwise. The breach scenario is
the EAU definition of biochemical recurrence after radical prostatectomy used by the seeded
pathway: a PSA above 0.2 ug/L confirmed by a second one above it. A patient reading those two
values in PKB before their clinician has looked is the harm the hold prevents.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from zoneinfo import ZoneInfo

import pytest
from auditlog.models import LogEntry
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils import timezone
from pytest_django.asserts import assertContains, assertNotContains, assertRedirects
from rest_framework.test import APIClient

from careplans.care_plans import services as consent_services
from careplans.followup import services as plan_services
from careplans.models import PKB_SHARING_TOPIC, ConsentMethod, ConsentStatus, Pathway
from pkb_bridge import services
from pkb_bridge.models import Enrolment, OutboundMessage, Publication, ReleasePolicy
from rms import services as rms_services
from rms.models import AccessEvent, Result
from rms.services import ObservationInput, ResultInput, system_user
from tests.worklists.helpers import ExampleKey
from worklists.models import WorkItem
from worklists.services import work_item_raise

pytestmark = pytest.mark.django_db

LONDON = ZoneInfo("Europe/London")
STATEMENT = "Consented verbally in clinic on 1 December; paper form in the notes"
HTMX = {"HX-Request": "true"}


def psa(patient, actor, day: str, value: str) -> Result:  # type: ignore[no-untyped-def]
    """A PSA filed through the real path: the monitoring rules run on it."""
    taken = dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=LONDON)
    number = Decimal(value.lstrip("<"))
    outcome = rms_services.result_record(
        patient=patient,
        actor=actor,
        data=ResultInput(
            category="lab",
            source_system="WINPATH",
            filler_order_number=f"PSA-{day}",
            observed_at=taken,
            status="final",
            service_code="PSA",
            service_name="Prostate specific antigen",
            observations=[
                ObservationInput(
                    code="PSA",
                    name="PSA",
                    value_type="NM",
                    value_text=value,
                    value_numeric=number,
                    comparator="<" if value.startswith("<") else "",
                    units="ug/L",
                    observed_at=taken,
                )
            ],
        ),
    )
    return outcome.result


@pytest.fixture
def recurrence(patient, clinician):  # type: ignore[no-untyped-def]
    """After prostatectomy: undetectable, low, then 0.21 confirmed by 0.24 (a breach)."""
    plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2025, 1, 15),
        actor=clinician,
    )
    quiet = [
        psa(patient, clinician, "2025-04-20", "<0.01"),
        psa(patient, clinician, "2025-10-20", "0.03"),
    ]
    rising = [
        psa(patient, clinician, "2026-08-02", "0.21"),
        psa(patient, clinician, "2026-11-10", "0.24"),
    ]
    [breach] = WorkItem.objects.filter(patient=patient, kind=WorkItem.Kind.THRESHOLD_BREACH)
    return quiet, rising, breach


def consent(patient, clinician, status: str = ConsentStatus.GIVEN, topic: str = PKB_SHARING_TOPIC):  # type: ignore[no-untyped-def]
    return consent_services.consent_record(
        patient=patient,
        topic=topic,
        method=ConsentMethod.WRITTEN,
        status=status,
        given_at=timezone.now() - dt.timedelta(days=1),
        actor=clinician,
        information_given="PKB leaflet v2",
    )


def state_of(result: Result) -> str:
    return Publication.objects.get(result=result).state


# --- the service ------------------------------------------------------------------------------


def test_without_a_consent_record_or_a_statement_sharing_is_refused_and_nothing_queued(
    patient, clinician
) -> None:
    with pytest.raises(ValidationError) as refused:
        services.enrolment_opt_in(patient=patient, actor=clinician)
    assert (
        "No consent to share with Patients Know Best is recorded"
        in refused.value.message_dict["consent"][0]
    )
    assert not Enrolment.objects.exists()
    assert not OutboundMessage.objects.exists()


def test_a_statement_of_consent_is_kept_with_who_and_when_and_audited(patient, clinician) -> None:
    enrolment = services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    assert enrolment.consent_attestation == STATEMENT
    assert enrolment.consent_record is None
    assert enrolment.opted_in_by == clinician and enrolment.opted_in_at is not None
    entry = LogEntry.objects.get_for_object(enrolment).get(action=LogEntry.Action.CREATE)
    assert STATEMENT in str(entry.changes)


def test_a_statement_of_a_word_or_two_is_not_enough(patient, clinician) -> None:
    with pytest.raises(ValidationError):
        services.enrolment_opt_in(patient=patient, actor=clinician, attestation="yes")
    assert not Enrolment.objects.exists()


def test_a_consent_record_on_sharing_with_pkb_is_what_sharing_rests_on(patient, clinician) -> None:
    record = consent(patient, clinician)
    enrolment = services.enrolment_opt_in(patient=patient, actor=clinician)
    assert enrolment.consent_record == record
    assert enrolment.consent_attestation == ""


def test_a_consent_on_another_topic_does_not_count(patient, clinician) -> None:
    consent(patient, clinician, topic="Remote follow-up by PSA monitoring")
    with pytest.raises(ValidationError):
        services.enrolment_opt_in(patient=patient, actor=clinician)


@pytest.mark.parametrize("withdrawn", [False, True])
def test_a_recorded_refusal_or_withdrawal_is_not_overridden_by_a_statement(
    patient, clinician, withdrawn
) -> None:
    if withdrawn:
        given = consent(patient, clinician)
        consent_services.consent_withdraw(
            consent=given, actor=clinician, method=ConsentMethod.VERBAL
        )
    else:
        consent(patient, clinician, status=ConsentStatus.DECLINED)
    with pytest.raises(ValidationError) as refused:
        services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    verb = "withdrew" if withdrawn else "declined"
    assert f"The patient {verb} consent" in refused.value.message_dict["consent"][0]
    assert not Enrolment.objects.exists()


def test_the_evidence_of_an_open_breach_is_held_and_the_rest_published(
    patient, clinician, recurrence
) -> None:
    quiet, rising, _ = recurrence
    enrolment = services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    assert enrolment.held_breach_evidence
    assert [state_of(r) for r in quiet] == [Publication.State.RELEASED] * 2
    assert [state_of(r) for r in rising] == [Publication.State.HELD] * 2
    held = Publication.objects.get(result=rising[1])
    assert held.decided_by == clinician and "open threshold breach" in held.reason
    assert held.auto_release_at is None
    sent = "".join(OutboundMessage.objects.values_list("payload", flat=True))
    assert "0.03" in sent
    assert "0.21" not in sent and "0.24" not in sent


def test_a_clinician_may_choose_to_publish_the_evidence(patient, clinician, recurrence) -> None:
    _, rising, _ = recurrence
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation=STATEMENT, hold_breach_evidence=False
    )
    assert [state_of(r) for r in rising] == [Publication.State.RELEASED] * 2


def test_a_breach_closed_by_a_clinician_holds_nothing(patient, clinician, recurrence) -> None:
    _, rising, breach = recurrence
    WorkItem.objects.filter(pk=breach.pk).update(
        status=WorkItem.Status.DONE, closed_at=timezone.now()
    )
    services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    assert [state_of(r) for r in rising] == [Publication.State.RELEASED] * 2


def test_the_preview_counts_each_category_and_names_the_breach(
    patient, clinician, team, recurrence
) -> None:
    ReleasePolicy.objects.create(team=team, category="radiology", mode="hold", auto_release_days=7)
    rms_services.result_record(
        patient=patient,
        actor=clinician,
        data=ResultInput(
            category="radiology", source_system="CRIS", filler_order_number="RAD-1",
            observed_at=timezone.now() - dt.timedelta(days=3), status="final",
            service_code="CTCAP", service_name="CT chest abdomen pelvis",
            observations=[ObservationInput(code="REPORT", name="Report", value_type="TX",
                                           value_text="Clear.", observed_at=timezone.now())],
        ),
    )  # fmt: skip
    preview = services.opt_in_preview(patient=patient, actor=clinician)
    rows = {row.category: row for row in preview.categories}
    assert (rows["lab"].published, rows["lab"].held, rows["lab"].held_for_breach) == (2, 0, 2)
    assert (rows["radiology"].published, rows["radiology"].held) == (0, 1)
    assert rows["radiology"].auto_release_days == 7
    assert [b.title for b in preview.breaches] == [recurrence[2].title]
    assert preview.consent is None and preview.attestation_allowed
    assert not Enrolment.objects.exists()  # a preview changes nothing


# --- the page ---------------------------------------------------------------------------------


def opt_in_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("pkb:opt_in", args=[patient.public_id])


def test_the_page_shows_the_preview_and_asks_for_consent_before_anything_is_shared(
    client, clinician, patient, recurrence
) -> None:
    client.force_login(clinician)
    response = client.get(opt_in_url(patient))
    assertContains(response, "What will be sent")
    assertContains(response, "Laboratory results")
    assertContains(response, recurrence[2].title)
    assertContains(response, "How and when did the patient consent")
    assertContains(response, "Hold them until a clinician releases them")
    assert not Enrolment.objects.exists()
    assert AccessEvent.objects.filter(action="pkb_opt_in", outcome="allowed").exists()


def test_confirming_without_consent_is_refused_on_the_form_and_nothing_is_lost(
    client, clinician, patient
) -> None:
    client.force_login(clinician)
    response = client.post(opt_in_url(patient), {"attestation": ""}, headers=HTMX)
    assertContains(response, "No consent to share with Patients Know Best is recorded")
    assertContains(response, "What will be sent")
    assert not Enrolment.objects.exists()


def test_confirming_with_a_statement_shares_and_holds_the_evidence(
    client, clinician, patient, recurrence
) -> None:
    client.force_login(clinician)
    response = client.post(
        opt_in_url(patient), {"attestation": STATEMENT, "breach_evidence": "hold"}
    )
    assertRedirects(response, reverse("pkb:patient_panel", args=[patient.public_id]))
    enrolment = Enrolment.objects.get()
    assert enrolment.consent_attestation == STATEMENT
    assert [state_of(r) for r in recurrence[1]] == [Publication.State.HELD] * 2
    panel = client.get(reverse("pkb:patient_panel", args=[patient.public_id]))
    assertContains(panel, "Stated by")
    assertContains(panel, STATEMENT)


def test_with_a_consent_record_the_page_names_it_and_asks_no_statement(
    client, clinician, patient
) -> None:
    consent(patient, clinician)
    client.force_login(clinician)
    page = client.get(opt_in_url(patient))
    assertContains(page, "Written consent to")
    assertNotContains(page, "How and when did the patient consent")
    client.post(opt_in_url(patient), {})
    assert Enrolment.objects.get().consent_record is not None


def test_after_a_recorded_refusal_the_page_offers_no_confirmation(
    client, clinician, patient
) -> None:
    consent(patient, clinician, status=ConsentStatus.DECLINED)
    client.force_login(clinician)
    page = client.get(opt_in_url(patient))
    assertContains(page, "The patient declined consent")
    assertNotContains(page, "Share with Patients Know Best</button>")


def test_a_viewer_cannot_see_the_preview_or_share(client, viewer, patient) -> None:
    client.force_login(viewer)
    assert client.get(opt_in_url(patient)).status_code == 403
    assert client.post(opt_in_url(patient), {"attestation": STATEMENT}).status_code == 403
    assert not Enrolment.objects.exists()


def test_another_teams_clinician_gets_a_404_and_it_is_logged(
    client, other_team_clinician, patient
) -> None:
    client.force_login(other_team_clinician)
    assert client.get(opt_in_url(patient)).status_code == 404
    assert AccessEvent.objects.filter(action="pkb_opt_in", outcome="denied").exists()


# --- the API and the command --------------------------------------------------------------------


def api_url(patient) -> str:  # type: ignore[no-untyped-def]
    return reverse("api:patient-enrolment", args=[patient.public_id])


def test_the_api_refuses_an_opt_in_without_consent_under_consent(clinician, patient) -> None:
    api = APIClient()
    api.force_authenticate(clinician)
    response = api.post(api_url(patient), {}, format="json")
    assert response.status_code == 400
    assert "consent" in response.data
    response = api.post(api_url(patient), {"attestation": STATEMENT}, format="json")
    assert response.status_code == 201
    assert response.data["consent_attestation"] == STATEMENT
    assert response.data["held_breach_evidence"] is True


def run(*args: str) -> str:
    out = StringIO()
    call_command("pkb_opt_in", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_the_command_needs_a_consent_record_or_an_attested_reason(
    clinician, patient, recurrence
) -> None:
    with pytest.raises(CommandError, match="No consent to share"):
        run("--nhs-number", patient.nhs_number, "--user", "clinician")
    assert not Enrolment.objects.exists()
    out = run(
        "--nhs-number", patient.nhs_number, "--user", "clinician", "--attest-consent", STATEMENT
    )
    assert "consent attested by the user" in out and "2 items held for review" in out
    assert Enrolment.objects.get().consent_attestation == STATEMENT


# --- a breach raised after the opt-in ------------------------------------------------------------


def plan_after_prostatectomy(patient, clinician) -> None:  # type: ignore[no-untyped-def]
    plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2025, 1, 15),
        actor=clinician,
    )


def pending_payloads(patient) -> str:  # type: ignore[no-untyped-def]
    return "".join(
        OutboundMessage.objects.filter(
            patient=patient, status=OutboundMessage.Status.PENDING
        ).values_list("payload", flat=True)
    )


def test_a_breach_raised_after_sharing_holds_its_evidence_that_pkb_does_not_have_yet(
    patient, clinician
) -> None:
    plan_after_prostatectomy(patient, clinician)
    services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    first = psa(patient, clinician, "2026-08-02", "0.21")
    # PKB already has the first value above 0.2 (it was not a breach on its own).
    OutboundMessage.objects.filter(patient=patient).update(status=OutboundMessage.Status.DELIVERED)
    confirming = psa(patient, clinician, "2026-11-10", "0.24")  # the breach: 0.21 confirmed
    assert WorkItem.objects.filter(kind=WorkItem.Kind.THRESHOLD_BREACH).count() == 1
    assert state_of(first) == Publication.State.RELEASED  # PKB has it: it cannot be recalled
    held = Publication.objects.get(result=confirming)
    assert held.state == Publication.State.HELD
    assert "open threshold breach" in held.reason
    assert "0.24" not in pending_payloads(patient)
    cancelled = OutboundMessage.objects.get(
        patient=patient, status=OutboundMessage.Status.CANCELLED
    )
    assert "0.24" in cancelled.payload


def test_without_the_hold_a_later_breach_is_published_under_the_policy(patient, clinician) -> None:
    plan_after_prostatectomy(patient, clinician)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation=STATEMENT, hold_breach_evidence=False
    )
    psa(patient, clinician, "2026-08-02", "0.21")
    confirming = psa(patient, clinician, "2026-11-10", "0.24")
    assert state_of(confirming) == Publication.State.RELEASED
    assert "0.24" in pending_payloads(patient)


# --- the preview through the API and the command -----------------------------------------------


def test_the_api_previews_what_sharing_would_send_and_hold_and_shares_nothing(
    clinician, patient, recurrence
) -> None:
    api = APIClient()
    api.force_authenticate(clinician)
    response = api.get(reverse("api:patient-enrolment-preview", args=[patient.public_id]))
    assert response.status_code == 200
    body = response.json()
    lab = next(row for row in body["categories"] if row["category"] == "lab")
    assert (lab["published"], lab["held_for_breach"]) == (2, 2)
    assert [b["title"] for b in body["breaches"]] == [recurrence[2].title]
    assert body["consent_record"] is None and body["attestation_allowed"] is True
    assert "No consent to share" in body["consent_problem"]
    assert body["team"] == "URO" and body["nhs_number_refusal"] is None
    assert not Enrolment.objects.exists()


def test_the_api_preview_is_refused_to_a_viewer_and_hidden_from_another_team(
    viewer, other_team_clinician, patient
) -> None:
    url = reverse("api:patient-enrolment-preview", args=[patient.public_id])
    api = APIClient()
    api.force_authenticate(viewer)
    assert api.get(url).status_code == 403
    api.force_authenticate(other_team_clinician)
    assert api.get(url).status_code == 404


def test_the_command_previews_without_sharing(clinician, patient, recurrence) -> None:
    out = run("--nhs-number", patient.nhs_number, "--user", "clinician", "--preview")
    assert "Laboratory results: 2 published, 0 delayed, 0 held by policy, 2 held as breach" in out
    assert recurrence[2].title in out
    assert "Nothing was shared." in out
    assert not Enrolment.objects.exists()


def test_the_api_publishes_the_evidence_when_asked(clinician, patient, recurrence) -> None:
    api = APIClient()
    api.force_authenticate(clinician)
    body = {"attestation": STATEMENT, "hold_breach_evidence": False}
    response = api.post(api_url(patient), body, format="json")
    assert response.status_code == 201 and response.data["held_breach_evidence"] is False
    assert [state_of(r) for r in recurrence[1]] == [Publication.State.RELEASED] * 2


def test_the_command_publishes_the_evidence_with_its_flag(clinician, patient, recurrence) -> None:
    run("--nhs-number", patient.nhs_number, "--user", "clinician",
        "--attest-consent", STATEMENT, "--publish-breach-evidence")  # fmt: skip
    assert Enrolment.objects.get().held_breach_evidence is False
    assert [state_of(r) for r in recurrence[1]] == [Publication.State.RELEASED] * 2


def test_an_item_listing_several_rules_holds_the_evidence_of_each(patient, clinician) -> None:
    """One result can break several rules at once, raised as one item listing each rule and
    its evidence under details["rules"]: the evidence of every rule listed is held."""
    quiet = psa(patient, clinician, "2025-10-20", "0.03")
    first = psa(patient, clinician, "2026-08-02", "0.21")
    second = psa(patient, clinician, "2026-11-10", "0.24")

    def point(result: Result) -> dict[str, str]:
        return {"at": result.observed_at.isoformat(), "value": "x", "units": "ug/L"}

    work_item_raise(
        kind=WorkItem.Kind.THRESHOLD_BREACH, key=ExampleKey("breach:test:two-rules"),
        title="2 alerts", explanation="Two rules.", source="rule:999999",
        actor=system_user(), patient=patient, priority=WorkItem.Priority.HIGH,
        details={"evidence": [point(second)], "rules": [
            {"rule": "limit", "evidence": [point(second)]},
            {"rule": "rises", "evidence": [point(first), point(second)]},
        ]},
    )  # fmt: skip
    services.enrolment_opt_in(patient=patient, actor=clinician, attestation=STATEMENT)
    assert state_of(quiet) == Publication.State.RELEASED
    assert [state_of(first), state_of(second)] == [Publication.State.HELD] * 2
