"""Opting a patient in to PKB (registration, then the whole record), withdrawing them, and
keeping an enrolled patient's PKB record in step with every change to the RMS record.

The ``on_*`` functions are what the ``rms`` signal receivers call: inside the transaction of
the change, so the outbox row commits with the change or not at all.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import itertools
import logging
from collections.abc import Iterable, Sequence
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Prefetch, prefetch_related_objects
from django.utils import timezone

from careplans.followup.selectors import breach_evidence_result_ids
from careplans.models import PKB_SHARING_TOPIC, ConsentRecord, ConsentStatus
from pkb_bridge import compose, hl7
from pkb_bridge.models import Enrolment, OutboundMessage, Publication, ReleasePolicy
from pkb_bridge.services.outbox import (
    Builder,
    Planned,
    message_enqueue,
    messages_cancel_pending,
    messages_enqueue,
)
from pkb_bridge.services.publication import (
    Item,
    PublicationPlan,
    category_of,
    clinical_time,
    policy_for,
    publication_attach,
    publication_create,
    publication_for,
    publication_hold,
    publications_plan,
    publications_save,
    send_item,
)
from rms import nhs_number, permissions, selectors, sql
from rms.models import (
    Appointment,
    Diagnosis,
    Document,
    NhsNumberStatus,
    Observation,
    Patient,
    Result,
    Team,
)
from rms.services import system_user
from worklists.models import WorkItem

Kind = OutboundMessage.Kind
State = Publication.State
logger = logging.getLogger("pkb_bridge")

# Demographic fields PKB holds; a change to any of them is sent as an ADT^A31.
PKB_FIELDS = frozenset(
    {
        "nhs_number",
        "nhs_number_status",
        "title",
        "given_name",
        "family_name",
        "date_of_birth",
        "sex",
        "address_line_1",
        "address_line_2",
        "address_city",
        "address_county",
        "postcode",
        "phone_home",
        "phone_mobile",
        "phone_work",
        "email",
    }
)


def active_enrolment(patient: Patient) -> Enrolment | None:
    return (
        Enrolment.objects.select_related("team", "patient")
        .filter(patient=patient, status=Enrolment.Status.ACTIVE)
        .first()
    )


def opt_in_refusal(patient: Patient) -> str | None:
    """Why ``patient`` cannot be shared with PKB yet, or None. PKB cannot merge records, so
    only a verified NHS number (status 01) is sent."""
    if not patient.nhs_number:
        return "The patient has no NHS number; PKB needs a verified one."
    if not nhs_number.is_valid(patient.nhs_number):
        return "The patient's NHS number is not valid."
    if patient.nhs_number_status != NhsNumberStatus.VERIFIED:
        return (
            "The NHS number is not verified (status "
            f"{patient.nhs_number_status}); PKB cannot merge records, so only a verified number "
            "(status 01, traced on the Spine) can be shared. Trace the number first."
        )
    return None


# --- consent --------------------------------------------------------------------------------

# An attestation must say how and when the patient consented, not be a tick: a few words at least.
ATTESTATION_MIN = 10
ATTESTATION_MAX = 2000
BREACH_HOLD_REASON = "Evidence of an open threshold breach: held until a clinician releases it"


def _is_sharing_topic(topic: str) -> bool:
    text = topic.strip().casefold()
    return text == PKB_SHARING_TOPIC.casefold() or "patients know best" in text


def sharing_consent(patient: Patient) -> ConsentRecord | None:
    """The patient's latest consent record about sharing with PKB (given, declined or a
    withdrawal), or None when none is recorded. Reads only."""
    records = sql.rows(ConsentRecord, "patient_id = %s", [patient.pk], "given_at DESC, id DESC")
    for record in records:
        if _is_sharing_topic(record.topic):
            return record
    return None


def consent_refusal(
    patient: Patient, attestation: str = ""
) -> tuple[ConsentRecord | None, str | None]:
    """The consent an opt-in rests on, or why there is none: (the record, None) when the latest
    record on sharing with PKB says "given"; (None, None) when none is recorded and the
    clinician attests consent; (None, reason) otherwise. A recorded refusal or withdrawal is
    not overridden by an attestation: the new consent is recorded first."""
    record = sharing_consent(patient)
    if record is not None:
        when = timezone.localtime(record.given_at)
        if (
            record.status == ConsentStatus.GIVEN
            and not ConsentRecord.objects.filter(withdraws=record).exists()
        ):
            return record, None
        verb = "withdrew" if record.status == ConsentStatus.WITHDRAWN else "declined"
        return None, (
            f"The patient {verb} consent to share with Patients Know Best on "
            f"{when.day} {when:%B %Y}. Record the patient's new consent (consent records on the "
            "care plans page) before sharing."
        )
    text = attestation.strip()
    if not text:
        return None, (
            "No consent to share with Patients Know Best is recorded for this patient. Record "
            "it (consent records on the care plans page), or state how and when the patient "
            "consented."
        )
    if len(text) < ATTESTATION_MIN:
        return None, "Say how and when the patient consented, in a few words."
    if len(text) > ATTESTATION_MAX:
        return None, f"Keep the statement of consent to {ATTESTATION_MAX} characters."
    return None, None


# --- threshold breaches ------------------------------------------------------------------------


def open_breaches(patient: Patient) -> list[WorkItem]:
    """The patient's threshold-breach work items not yet done or dismissed, oldest first."""
    active = [str(status) for status in WorkItem.ACTIVE]
    return sql.rows(
        WorkItem,
        f"patient_id = %s AND kind = %s AND status IN ({sql.placeholders(active)})",
        [patient.pk, WorkItem.Kind.THRESHOLD_BREACH.value, *active],
        "created_at, id",
    )


# --- the preview shown before an opt-in --------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CategoryPreview:
    category: str
    label: str
    published: int
    delayed: int
    delay_days: int
    held: int
    auto_release_days: int | None
    held_for_breach: int


@dataclasses.dataclass(frozen=True)
class OptInPreview:
    """What an opt-in would send now, under the team's policies, and what it would hold."""

    team: Team
    consent: ConsentRecord | None
    # Why the recorded consent does not allow sharing (declined, withdrawn, none recorded).
    consent_problem: str | None
    # No record about sharing with PKB at all: the clinician may state the consent instead.
    attestation_allowed: bool
    categories: list[CategoryPreview]
    breaches: list[WorkItem]
    breach_evidence: int

    @property
    def total(self) -> int:
        return sum(c.published + c.delayed + c.held + c.held_for_breach for c in self.categories)


def opt_in_preview(*, patient: Patient, actor: User, team: Team | None = None) -> OptInPreview:
    """What sharing ``patient`` would publish, delay and hold, per category, and the open
    breach items whose evidence would be held (with the default choice). Reads only; raises
    PermissionDenied for a user who could not opt the patient in."""
    chosen = _team_for(patient, actor, team)
    items = _historic_items(patient)
    breaches = open_breaches(patient)
    evidence = breach_evidence_result_ids(patient, breaches)
    record, problem = consent_refusal(patient)
    # Preview with the enrolment the opt-in would make (unsaved: the policies are the team's).
    draft = Enrolment(patient=patient, team=chosen)
    rows: list[CategoryPreview] = []
    for value, label in ReleasePolicy.Category.choices:
        policy = policy_for(draft, value)
        of_category = [item for item in items if category_of(item) == value]
        for_breach = sum(
            1
            for item in of_category
            if isinstance(item, Result | compose.LabItem) and item.pk in evidence
        )
        rest = len(of_category) - for_breach
        mode = policy.mode
        rows.append(
            CategoryPreview(
                category=value,
                label=label,
                published=rest if mode == ReleasePolicy.Mode.IMMEDIATE else 0,
                delayed=rest if mode == ReleasePolicy.Mode.DELAY else 0,
                delay_days=policy.delay_days if mode == ReleasePolicy.Mode.DELAY else 0,
                held=rest if mode == ReleasePolicy.Mode.HOLD else 0,
                auto_release_days=policy.auto_release_days
                if mode == ReleasePolicy.Mode.HOLD
                else None,
                held_for_breach=for_breach,
            )
        )
    return OptInPreview(
        team=chosen,
        consent=record,
        consent_problem=problem,
        attestation_allowed=sharing_consent(patient) is None,
        categories=rows,
        breaches=breaches,
        breach_evidence=sum(row.held_for_breach for row in rows),
    )


def _team_for(patient: Patient, actor: User, team: Team | None) -> Team:
    return permissions.require_write(user=actor, patient=patient, team=team)


def adt_builder(enrolment: Enrolment, *, trigger: str) -> Builder:
    """The ADT^A28 or A31 of the patient's current record: demographics and every diagnosis,
    without an email PKB refused."""
    patient = enrolment.patient
    patient_data = compose.patient_data(patient, without_email=enrolment.email_is_refused())
    # ``selectors.diagnosis_list`` (its order), read with a fixed statement: every opt-in
    # and every demographic update sends an ADT.
    diagnoses = compose.diagnoses_data(
        sql.rows(Diagnosis, "patient_id = %s", [patient.pk], "diagnosed_on, id")
    )
    return lambda ctx: hl7.build_adt(
        ctx, patient_data, diagnoses, trigger=cast("hl7.build.AdtTrigger", trigger)
    )


def _registration(enrolment: Enrolment, *, trigger: str, source_ref: str) -> OutboundMessage | None:
    return message_enqueue(
        enrolment=enrolment,
        kind=Kind.REGISTRATION if trigger == "A28" else Kind.UPDATE,
        source_ref=source_ref,
        build=adt_builder(enrolment, trigger=trigger),
    )


def _historic_items(patient: Patient) -> list[Item]:
    """Everything the record holds that PKB should have, oldest clinical time first. Lab
    results, the bulk of a record, are read as plain values (``compose.lab_items``)."""
    if connection.vendor == "postgresql":
        others, documents, appointments = _other_items_sql(patient)
    else:
        others = list(
            selectors.result_list(patient=patient)
            .exclude(status__in=Result.WITHDRAWN)
            # PKB's own data is never sent back; lab results are read below.
            .exclude(category__in=[Result.Category.PATIENT, Result.Category.LAB])
        )
        documents = list(patient.documents.filter(status=Document.Status.CURRENT))
        appointments = list(patient.appointments.all())
    items: list[Item] = [*compose.lab_items(patient), *others, *documents, *appointments]
    # A lab item sorts as the Result it is read from.
    items.sort(
        key=lambda item: (
            clinical_time(item),
            "Result" if isinstance(item, compose.LabItem) else type(item).__name__,
            item.pk,
        )
    )
    return items


def _other_items_sql(
    patient: Patient,
) -> tuple[list[Result], list[Document], list[Appointment]]:
    """``_historic_items``' results other than lab results (with their current observations),
    current documents and appointments, read with fixed statements (PostgreSQL,
    ``rms.sql.rows_together``, one round trip): building the ORM's three queries cost more
    than a record's lab history (bench/pkb_historic.py). The same rows as the ORM's path;
    the caller sorts them."""
    others, documents, appointments = sql.rows_together(
        [
            (
                Result,
                "patient_id = %s AND status <> ALL(%s) AND category <> ALL(%s)",
                [
                    patient.pk,
                    [str(status) for status in Result.WITHDRAWN],
                    # PKB's own data is never sent back; lab results are read apart.
                    [Result.Category.PATIENT.value, Result.Category.LAB.value],
                ],
            ),
            (
                Document,
                "patient_id = %s AND status = %s",
                [patient.pk, Document.Status.CURRENT.value],
            ),
            (Appointment, "patient_id = %s", [patient.pk]),
        ]
    )
    if others:
        prefetch_related_objects(
            others,
            Prefetch(
                "observations",
                queryset=Observation.objects.filter(superseded_at__isnull=True).order_by(
                    "sequence", "id"
                ),
            ),
        )
    return others, documents, appointments


def _lab_pack_builder(patient_data: hl7.Patient, pack: hl7.LabPack) -> Builder:
    def build(context: hl7.MessageContext) -> str:
        return hl7.build_oru_lab_pack(context, patient_data, pack)

    return build


def _upload_history(
    enrolment: Enrolment,
    actor: User,
    held_results: set[int],
    items: list[Item] | None = None,
    *,
    first: Sequence[Planned] = (),
) -> int:
    """Publications for the whole record, and the messages of the released ones, in clinical
    order, after the messages ``first`` (the registration of a new enrolment). Runs of
    consecutive lab results are packed into as few ORU^R01 as the limits allow (PKB takes
    one message at a time, so fewer messages is a faster upload). Written in bulk: a go-live
    cohort opts in thousands of patients with hundreds of items each. The results in
    ``held_results`` are held, as ``actor``'s decision, whatever the team's policy.
    ``items``: these of the record only (else all of it). Returns how many messages it queued."""
    patient = enrolment.patient
    patient_data = compose.patient_data(patient)
    if items is None:
        items = _historic_items(patient)
    queued = 0
    publications = publications_plan(enrolment=enrolment, items=items)
    for item, publication in zip(items, publications, strict=True):
        if isinstance(item, Result | compose.LabItem) and item.pk in held_results:
            # The patient would otherwise read an abnormal value before anyone has looked.
            publication.state = State.HELD
            publication.delay_days = 0
            publication.auto_release_at = None
            publication.decided_by_id = actor.pk
            publication.reason = BREACH_HOLD_REASON[:200]
    released_labs: list[tuple[PublicationPlan, compose.LabItem]] = []
    # Messages planned and not yet queued, with the publications each carries: queued
    # together (one sequence update, one insert) before anything is queued on its own.
    planned: list[Planned] = list(first)
    carried: list[list[PublicationPlan]] = [[] for _ in planned]

    def enqueue_planned() -> None:
        nonlocal queued
        if not planned:
            return
        messages = messages_enqueue(enrolment=enrolment, planned=planned)
        queued += sum(1 for message in messages if message is not None)
        for members, message in zip(carried, messages, strict=True):
            for publication in members:
                publication.message_id = message.pk if message is not None else None
        planned.clear()
        carried.clear()

    def flush_labs() -> None:
        if not released_labs:
            return
        reports = [
            dataclasses.replace(item.report, delay_days=publication.delay_days)
            if publication.delay_days
            else item.report
            for publication, item in released_labs
        ]
        context = compose.context_for(enrolment.team, compose.new_control_id())
        # Each group is rendered once, to measure it, and the messages are made from those.
        packs = hl7.pack_lab_groups(
            reports,
            max_bytes=settings.PKB_PACK_MAX_BYTES,
            max_reports=settings.PKB_PACK_MAX_REPORTS,
            context=context,
            patient=patient_data,
            delay_field=compose.delay_field(),
        )
        pairs = iter(released_labs)
        for pack in packs:
            members = list(itertools.islice(pairs, len(pack.reports)))
            ids = ",".join(str(result.pk) for _, result in members)
            planned.append(
                Planned(
                    kind=Kind.LAB,
                    source_ref=f"history:lab:{hashlib.sha256(ids.encode()).hexdigest()[:24]}",
                    build=_lab_pack_builder(patient_data, pack),
                )
            )
            carried.append([publication for publication, _ in members])
        released_labs.clear()

    for item, plan in zip(items, publications, strict=True):
        if plan.state != State.RELEASED:
            continue
        if isinstance(item, compose.LabItem):
            released_labs.append((plan, item))
            continue
        flush_labs()
        enqueue_planned()
        alone = publication_attach(plan.as_publication(), enrolment=enrolment, item=item)
        send_item(publication=alone, reason="history", save=False)
        queued += 1
        plan.message_id = alone.message_id
    flush_labs()
    enqueue_planned()
    publications_save(planned=publications)
    return queued


def shared_patients(patient_ids: Iterable[int]) -> set[int]:
    """Which of these patients are shared with PKB (an active enrolment)."""
    return set(
        Enrolment.objects.filter(
            patient_id__in=list(patient_ids), status=Enrolment.Status.ACTIVE
        ).values_list("patient_id", flat=True)
    )


def history_imported(*, patient: Patient, result_ids: Iterable[int], actor: User) -> int:
    """Results of a Trust's history imported for a patient already shared with PKB
    (``rms.inbound.history``, which files without the result signals): those PKB has no
    publication of yet are sent as an opt-in sends a record's history, in clinical order, lab
    results packed, under the team's publication policy; the evidence of the patient's open
    threshold breaches held when the enrolment holds it. Returns how many messages were
    queued. Safe to repeat: a result already published is not sent again."""
    enrolment = active_enrolment(patient)
    if enrolment is None:
        return 0
    ids = set(result_ids)
    wanted = ids - set(
        Publication.objects.filter(enrolment=enrolment, result_id__in=ids).values_list(
            "result_id", flat=True
        )
    )
    if not wanted:
        return 0
    items: list[Item] = [
        item
        for item in _historic_items(patient)
        if isinstance(item, Result | compose.LabItem) and item.pk in wanted
    ]
    if not items:
        return 0
    held = (
        breach_evidence_result_ids(patient, open_breaches(patient))
        if enrolment.held_breach_evidence
        else set()
    )
    return _upload_history(enrolment, actor, held, items)


def _lock_and_find_active(patient: Patient) -> int | None:
    """Lock the patient's row, serialising opt-ins of one patient (two clinicians clicking at
    once make one enrolment), then read the id of their active enrolment. Two statements: a
    statement that waited for the lock still reads as of its start, so one that locked and
    read at once would miss the enrolment the transaction it waited for made."""
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    locking = f"SELECT id FROM {quote(Patient._meta.db_table)} WHERE id = %s{lock}"  # noqa: S608
    finding = (
        f"SELECT id FROM {quote(Enrolment._meta.db_table)} "  # noqa: S608 - the model's table
        "WHERE patient_id = %s AND status = %s"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Sent as one query (one round trip), still two statements, each with its own
            # snapshot.
            cursor.execute(
                f"{locking}; {finding}", [patient.pk, patient.pk, Enrolment.Status.ACTIVE.value]
            )
            cursor.nextset()
        else:
            cursor.execute(locking, [patient.pk])
            cursor.execute(finding, [patient.pk, Enrolment.Status.ACTIVE.value])
        row = cursor.fetchone()
    return row[0] if row else None


@transaction.atomic
def enrolment_opt_in(
    *,
    patient: Patient,
    actor: User,
    team: Team | None = None,
    attestation: str = "",
    hold_breach_evidence: bool = True,
) -> Enrolment:
    """Share ``patient`` with PKB: the registration (ADT^A28 with every diagnosis) first, then
    everything the record holds in clinical order, under the team's publication policy.
    Needs the patient's consent: a consent record on sharing with PKB that says "given", or,
    with none recorded, ``attestation`` (the actor's statement of how and when the patient
    consented, kept with the enrolment). With ``hold_breach_evidence`` the results that are
    the evidence of an open threshold-breach work item are held until a clinician releases
    them. Safe to repeat: a patient already shared is returned as is, nothing queued twice."""
    if _lock_and_find_active(patient) is not None:
        return cast("Enrolment", active_enrolment(patient))
    chosen_team = _team_for(patient, actor, team)
    refusal = opt_in_refusal(patient)
    if refusal:
        raise ValidationError({"nhs_number_status": refusal})
    record, problem = consent_refusal(patient, attestation)
    if problem:
        raise ValidationError({"consent": problem})
    held = (
        breach_evidence_result_ids(patient, open_breaches(patient))
        if hold_breach_evidence
        else set()
    )
    enrolment = Enrolment.objects.create(
        patient=patient,
        team=chosen_team,
        opted_in_by=actor,
        invitation=Enrolment.Invitation.WAITING,
        consent_record=record,
        consent_attestation="" if record is not None else attestation.strip(),
        held_breach_evidence=hold_breach_evidence,
    )
    registration = Planned(
        kind=Kind.REGISTRATION,
        source_ref="registration",
        build=adt_builder(enrolment, trigger="A28"),
    )
    _upload_history(enrolment, actor, held, first=[registration])
    return enrolment


@transaction.atomic
def enrolment_withdraw(*, patient: Patient, actor: User, reason: str = "") -> Enrolment | None:
    """Stop sharing ``patient`` with PKB: every message not yet sent is cancelled in this
    transaction; one already in flight may still complete. Returns None (and does nothing)
    for a patient not shared. PKB keeps what it already received."""
    enrolment = active_enrolment(patient)
    if enrolment is None:
        return None
    permissions.require_write(user=actor, patient=patient)
    enrolment = Enrolment.objects.select_for_update().get(pk=enrolment.pk)
    enrolment.status = Enrolment.Status.WITHDRAWN
    enrolment.withdrawn_by = actor
    enrolment.withdrawn_at = timezone.now()
    enrolment.withdrawal_reason = reason[:2000]
    enrolment.save()
    messages_cancel_pending(enrolment=enrolment, reason="Patient withdrawn from PKB")
    return enrolment


# --- keeping PKB in step (called by the rms signal receivers) --------------------------------


def _from_pkb(item: Result | Document | Appointment) -> bool:
    """What the patient entered in PKB came from PKB: sending it back would duplicate it there."""
    return isinstance(item, Result) and item.category == Result.Category.PATIENT


def _item_changed(item: Result | Document | Appointment, reason: str) -> None:
    if _from_pkb(item):
        return
    enrolment = active_enrolment(item.patient)
    if enrolment is None:
        return
    publication = publication_for(enrolment, item)
    if publication is None:
        publication = publication_create(enrolment=enrolment, item=item)
    send_item(publication=publication, reason=reason)


def on_result_recorded(*, result: Result) -> None:
    """A new result (or one restored after a deletion): sent if the policy releases it."""
    _item_changed(result, f"v{result.version}:{result.status}")


def on_result_corrected(*, result: Result) -> None:
    """A correction: PKB replaces the values of the same filler order number."""
    _item_changed(result, f"v{result.version}:{result.status}")


def on_result_deleted(*, result: Result) -> None:
    """A deletion: PKB is told (OBR-25 R) if it has, or is about to get, any version; an item
    never released is simply withdrawn."""
    enrolment = None if _from_pkb(result) else active_enrolment(result.patient)
    if enrolment is None:
        return
    publication = publication_for(enrolment, result)
    if publication is None:
        return
    was_queued = publication.message_id is not None
    if publication.state == State.RELEASED and was_queued:
        send_item(publication=publication, reason=f"v{result.version}:{result.status}")
    publication.state = State.WITHDRAWN
    publication.save(update_fields=["state"])


def on_breach_raised(*, item: WorkItem) -> None:
    """A threshold breach was raised for a patient shared with PKB whose enrolment holds the
    evidence of open breaches: the evidence PKB does not have yet is held (its waiting message
    cancelled) until a clinician releases it. Runs in the transaction that raised the breach
    (monitoring's consumer of the result's event, which the bridge's own consumer waits for,
    so the result is not queued before). What PKB already has stays. Safe to repeat."""
    if item.kind != WorkItem.Kind.THRESHOLD_BREACH or item.patient is None:
        return
    enrolment = active_enrolment(item.patient)
    if enrolment is None or not enrolment.held_breach_evidence:
        return
    evidence = breach_evidence_result_ids(item.patient, [item])
    released = Publication.objects.filter(
        enrolment=enrolment, result_id__in=evidence, state=State.RELEASED
    )
    for publication in released:
        try:
            publication_hold(
                publication=publication, actor=system_user(), reason=BREACH_HOLD_REASON
            )
        except ValidationError:
            # PKB has it already, or is receiving it now: it cannot be recalled.
            continue


def hold_if_breach_evidence(*, result: Result) -> None:
    """After the bridge has queued ``result`` (its event's consumer runs after monitoring's,
    which may have raised a breach it is evidence of): hold it like ``on_breach_raised``
    holds the evidence it finds, cancelling its waiting message in the same transaction, so
    nothing of it reaches PKB before a clinician has looked. Safe to repeat."""
    enrolment = None if _from_pkb(result) else active_enrolment(result.patient)
    if enrolment is None or not enrolment.held_breach_evidence:
        return
    breaches = open_breaches(result.patient)
    if not breaches or result.pk not in breach_evidence_result_ids(result.patient, breaches):
        return
    publication = publication_for(enrolment, result)
    if publication is None or publication.state != State.RELEASED:
        return
    # PKB has it already, or is receiving it now: it cannot be recalled.
    with contextlib.suppress(ValidationError):
        publication_hold(publication=publication, actor=system_user(), reason=BREACH_HOLD_REASON)


def on_appointment_changed(*, appointment: Appointment) -> None:
    _item_changed(appointment, f"{appointment.status}:{appointment.updated_at.timestamp()}")


def on_document_changed(*, document: Document) -> None:
    _item_changed(document, f"{document.status}:{document.updated_at.timestamp()}")


def on_diagnoses_changed(*, patient: Patient, source_ref: str = "") -> None:
    """PKB replaces the whole set of diagnoses each time: an A31 with all of them.
    ``source_ref`` names the change (its event), so that repeating it queues nothing more."""
    enrolment = active_enrolment(patient)
    if enrolment is not None:
        _registration(
            enrolment, trigger="A31", source_ref=source_ref or f"a31:{compose.new_control_id()}"
        )


def on_patient_changed(
    *, patient: Patient, changed_fields: Iterable[str], source_ref: str = ""
) -> None:
    """Demographics PKB holds changed: an A31. A change of NHS number or its status away
    from verified is not sent (PKB cannot merge): the enrolment must be looked at.
    ``source_ref`` names the change (its event), so that repeating it queues nothing more."""
    enrolment = active_enrolment(patient)
    changed = set(changed_fields)
    if enrolment is None or not (changed & PKB_FIELDS):
        return
    if "nhs_number_status" in changed:
        _nhs_number_status_changed(enrolment)
    if "nhs_number" in changed or opt_in_refusal(patient):
        # PKB matches on the NHS number and cannot merge: sending a new or unverified number
        # could split the record. Nothing is sent until a person has looked.
        logger.warning(
            "Demographic update of enrolment %s not sent to PKB: the NHS number changed or is "
            "no longer verified",
            enrolment.public_id,
        )
        return
    _registration(
        enrolment, trigger="A31", source_ref=source_ref or f"a31:{compose.new_control_id()}"
    )


def _nhs_number_status_changed(enrolment: Enrolment) -> None:
    """The NHS number's status moved away from verified (01), or back to it. While it is not
    verified nothing is sent for the patient (the dispatcher holds every message: PKB routes
    an unverified number to manual review) and the team has a work item; once it is verified
    again the item closes and the held messages go, in order, carrying the verified status."""
    from pkb_bridge import signals
    from pkb_bridge.services.outbox import kick_dispatcher_on_commit

    if enrolment.patient.nhs_number_status == NhsNumberStatus.VERIFIED:
        signals.nhs_number_verified.send(sender=Enrolment, enrolment=enrolment)
        kick_dispatcher_on_commit()
    else:
        logger.warning(
            "Enrolment %s: the NHS number is no longer verified; PKB messages are held",
            enrolment.public_id,
        )
        signals.nhs_number_unverified.send(sender=Enrolment, enrolment=enrolment)
