"""Opting a patient in to PKB (registration, then the whole record), withdrawing them, and
keeping an enrolled patient's PKB record in step with every change to the RMS record.

The ``on_*`` functions are what the ``rms`` signal receivers call: inside the transaction of
the change, so the outbox row commits with the change or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import logging
from collections.abc import Iterable
from typing import cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from pkb_bridge import compose, hl7
from pkb_bridge.models import Enrolment, OutboundMessage, Publication
from pkb_bridge.services.outbox import (
    Builder,
    Planned,
    message_enqueue,
    messages_cancel_pending,
    messages_enqueue,
)
from pkb_bridge.services.publication import (
    Item,
    clinical_time,
    publication_attach,
    publication_create,
    publication_for,
    publications_plan,
    publications_save,
    send_item,
)
from rms import nhs_number, selectors
from rms.models import Appointment, Document, NhsNumberStatus, Patient, Result, Team
from rms.models.teams import WRITE_ROLES

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


def _team_for(patient: Patient, actor: User, team: Team | None) -> Team:
    writable = selectors.team_list(user=actor, roles=WRITE_ROLES).filter(
        caseload_entries__patient=patient, caseload_entries__ended_on__isnull=True
    )
    if team is not None:
        if not writable.filter(pk=team.pk).exists():
            raise PermissionDenied(
                "Only a clinician of the patient's team can share them with PKB."
            )
        return team
    chosen = writable.order_by("name").first()
    if chosen is None:
        raise PermissionDenied("Only a clinician of the patient's team can share them with PKB.")
    return chosen


def adt_builder(enrolment: Enrolment, *, trigger: str) -> Builder:
    """The ADT^A28 or A31 of the patient's current record: demographics and every diagnosis,
    without an email PKB refused."""
    patient = enrolment.patient
    patient_data = compose.patient_data(patient, without_email=enrolment.email_is_refused())
    diagnoses = compose.diagnoses_data(list(selectors.diagnosis_list(patient=patient)))
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


def _lab_pack_builder(patient_data: hl7.Patient, pack: hl7.LabPack) -> Builder:
    def build(context: hl7.MessageContext) -> str:
        return hl7.build_oru_lab_pack(context, patient_data, pack)

    return build


def _upload_history(enrolment: Enrolment, actor: User) -> None:
    """Publications for the whole record, and the messages of the released ones, in clinical
    order. Runs of consecutive lab results are packed into as few ORU^R01 as the limits allow
    (PKB takes one message at a time, so fewer messages is a faster upload). Written in bulk:
    a go-live cohort opts in thousands of patients with hundreds of items each."""
    patient = enrolment.patient
    patient_data = compose.patient_data(patient)
    items = _historic_items(patient)
    publications = publications_plan(enrolment=enrolment, items=items)
    released_labs: list[tuple[Publication, compose.LabItem]] = []

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
        members_of: list[list[tuple[Publication, compose.LabItem]]] = []
        planned: list[Planned] = []
        for pack in packs:
            members = list(itertools.islice(pairs, len(pack.reports)))
            members_of.append(members)
            ids = ",".join(str(result.pk) for _, result in members)
            planned.append(
                Planned(
                    kind=Kind.LAB,
                    source_ref=f"history:lab:{hashlib.sha256(ids.encode()).hexdigest()[:24]}",
                    build=_lab_pack_builder(patient_data, pack),
                )
            )
        messages = messages_enqueue(enrolment=enrolment, planned=planned)
        for members, message in zip(members_of, messages, strict=True):
            for publication, _ in members:
                # By id: setting the object costs several times more, for thousands of rows.
                publication.message_id = message.pk if message is not None else None
        released_labs.clear()

    for item, publication in zip(items, publications, strict=True):
        if publication.state != State.RELEASED:
            continue
        if isinstance(item, compose.LabItem):
            released_labs.append((publication, item))
            continue
        flush_labs()
        publication_attach(publication, enrolment=enrolment, item=item)
        send_item(publication=publication, reason="history", save=False)
    flush_labs()
    publications_save(planned=publications)


@transaction.atomic
def enrolment_opt_in(*, patient: Patient, actor: User, team: Team | None = None) -> Enrolment:
    """Share ``patient`` with PKB: the registration (ADT^A28 with every diagnosis) first, then
    everything the record holds in clinical order, under the team's publication policy.
    Safe to repeat: a patient already shared is returned as is, nothing queued twice."""
    # Serialise opt-ins of one patient: two clinicians clicking at once make one enrolment.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    existing = active_enrolment(patient)
    if existing is not None:
        return existing
    chosen_team = _team_for(patient, actor, team)
    refusal = opt_in_refusal(patient)
    if refusal:
        raise ValidationError({"nhs_number_status": refusal})
    enrolment = Enrolment.objects.create(
        patient=patient,
        team=chosen_team,
        opted_in_by=actor,
        invitation=Enrolment.Invitation.WAITING,
    )
    _registration(enrolment, trigger="A28", source_ref="registration")
    _upload_history(enrolment, actor)
    return enrolment


@transaction.atomic
def enrolment_withdraw(*, patient: Patient, actor: User, reason: str = "") -> Enrolment | None:
    """Stop sharing ``patient`` with PKB: every message not yet sent is cancelled in this
    transaction; one already in flight may still complete. Returns None (and does nothing)
    for a patient not shared. PKB keeps what it already received."""
    enrolment = active_enrolment(patient)
    if enrolment is None:
        return None
    if not selectors.user_can_write(user=actor, patient=patient):
        raise PermissionDenied("Only a clinician of the patient's team can withdraw them.")
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


def on_appointment_changed(*, appointment: Appointment) -> None:
    _item_changed(appointment, f"{appointment.status}:{appointment.updated_at.timestamp()}")


def on_document_changed(*, document: Document) -> None:
    _item_changed(document, f"{document.status}:{document.updated_at.timestamp()}")


def on_diagnoses_changed(*, patient: Patient) -> None:
    """PKB replaces the whole set of diagnoses each time: an A31 with all of them."""
    enrolment = active_enrolment(patient)
    if enrolment is not None:
        _registration(enrolment, trigger="A31", source_ref=f"a31:{compose.new_control_id()}")


def on_patient_changed(*, patient: Patient, changed_fields: Iterable[str]) -> None:
    """Demographics PKB holds changed: an A31. A change of NHS number or its status away
    from verified is not sent (PKB cannot merge): the enrolment must be looked at."""
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
    _registration(enrolment, trigger="A31", source_ref=f"a31:{compose.new_control_id()}")


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
