"""Publication control: whether, and when, each item is first published to the patient.

Per team and category a policy says: release at once; release after N days (PKB shows that
the item exists and hides its content until then, counted from the clinical time); or hold
for clinician review, optionally released automatically after N days. A held item is not
sent at all until released. Radiology is held for review where a team has set no policy. An
automatic release is announced to the team (a review work item) PKB_AUTO_RELEASE_NOTICE_HOURS
before it, and never happens sooner than that after the announcement. Every decision is a
``PublicationDecision`` row: who, when, why.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import psycopg
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connections, router, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from pkb_bridge import compose, hl7
from pkb_bridge.models import (
    Enrolment,
    OutboundMessage,
    Publication,
    PublicationDecision,
    ReleasePolicy,
)
from pkb_bridge.services.outbox import message_enqueue
from rms import sql
from rms.models import Appointment, Document, Result
from rms.services import system_user, system_user_id

Category = ReleasePolicy.Category
State = Publication.State
Kind = OutboundMessage.Kind

DEFAULT_MODE = ReleasePolicy.Mode.IMMEDIATE
# What a team that has set no policy for a category gets. Radiology reports are held for a
# clinician's review (a report can carry news the patient should hear from a person first).
DEFAULT_MODES: dict[str, str] = {Category.RADIOLOGY: ReleasePolicy.Mode.HOLD}


# What a publication can be about: a result, a document or an appointment (or, for the
# historic upload, a lab result read as plain values).
Item = Result | Document | Appointment | compose.LabItem


def category_of(item: Item) -> str:
    if isinstance(item, compose.LabItem):
        return Category.LAB
    if isinstance(item, Result):
        return Category.RADIOLOGY if item.category == Result.Category.RADIOLOGY else Category.LAB
    if isinstance(item, Document):
        return Category.DOCUMENT
    return Category.APPOINTMENT


def clinical_time(item: Item) -> dt.datetime:
    if isinstance(item, Result | compose.LabItem):
        return item.observed_at
    if isinstance(item, Document):
        return item.authored_at
    return item.starts_at


def policy_for(enrolment: Enrolment, category: str) -> ReleasePolicy:
    """The team's policy for a category; a team that has set none releases at once, but
    radiology, which is held until a clinician releases it (``DEFAULT_MODES``)."""
    policy = ReleasePolicy.objects.filter(team=enrolment.team, category=category).first()
    return policy or ReleasePolicy(
        team=enrolment.team, category=category, mode=DEFAULT_MODES.get(category, DEFAULT_MODE)
    )


def _item_field(item: Item) -> str:
    if isinstance(item, Result | compose.LabItem):
        return "result"
    if isinstance(item, Document):
        return "document"
    return "appointment"


def publication_for(
    enrolment: Enrolment, item: Result | Document | Appointment
) -> Publication | None:
    return Publication.objects.filter(enrolment=enrolment, **{_item_field(item): item}).first()


def _decide(publication: Publication, state: str, actor: User, reason: str) -> None:
    publication.state = state
    publication.decided_by = actor
    publication.decided_at = timezone.now()
    publication.reason = reason[:200]
    publication.save()
    PublicationDecision.objects.create(
        publication=publication, state=state, decided_by=actor, reason=reason[:200]
    )


@transaction.atomic
def publication_create(
    *, enrolment: Enrolment, item: Result | Document | Appointment, actor: User | None = None
) -> Publication:
    """The item's publication under its team's policy (made once per enrolment and item;
    safe to repeat). The decision is recorded as the system's."""
    existing = publication_for(enrolment, item)
    if existing is not None:
        return existing
    category = category_of(item)
    policy = policy_for(enrolment, category)
    decider = actor or system_user()
    state = State.HELD if policy.mode == ReleasePolicy.Mode.HOLD else State.RELEASED
    delay = policy.delay_days if policy.mode == ReleasePolicy.Mode.DELAY else 0
    auto_release_at = None
    if state == State.HELD and policy.auto_release_days is not None:
        auto_release_at = timezone.now() + dt.timedelta(days=policy.auto_release_days)
    reason = f"Team policy: {policy.get_mode_display().lower()}"
    if delay:
        reason += f" ({delay} days after the clinical time)"
    publication = Publication.objects.create(
        enrolment=enrolment,
        patient=enrolment.patient,
        category=category,
        state=state,
        delay_days=delay,
        auto_release_at=auto_release_at,
        decided_by=decider,
        reason=reason[:200],
        **{_item_field(item): item},
    )
    PublicationDecision.objects.create(
        publication=publication, state=state, decided_by=decider, reason=reason[:200]
    )
    return publication


@dataclass(slots=True, kw_only=True)
class PublicationPlan:
    """One publication of a new enrolment's record, planned as plain values (a record has
    thousands of items, and a model instance each cost more than writing them): what
    ``publications_save`` writes, and ``as_publication`` for the few items sent one by one."""

    enrolment_id: int
    patient_id: int
    category: str
    item_field: str
    item_id: int
    state: str
    delay_days: int
    auto_release_at: dt.datetime | None
    decided_by_id: int
    decided_at: dt.datetime
    reason: str
    message_id: int | None = None

    def as_publication(self) -> Publication:
        """The unsaved publication of this plan (its relations set by id)."""
        return Publication(
            enrolment_id=self.enrolment_id,
            patient_id=self.patient_id,
            category=self.category,
            state=self.state,
            delay_days=self.delay_days,
            auto_release_at=self.auto_release_at,
            decided_by_id=self.decided_by_id,
            decided_at=self.decided_at,
            reason=self.reason,
            message_id=self.message_id,
            **{f"{self.item_field}_id": self.item_id},
        )

    def row(self) -> tuple[object, ...]:
        """The values of ``_PLAN_COLUMNS``, in their order."""
        return (
            self.enrolment_id,
            self.patient_id,
            self.category,
            self.item_id if self.item_field == "result" else None,
            self.item_id if self.item_field == "document" else None,
            self.item_id if self.item_field == "appointment" else None,
            self.state,
            self.delay_days,
            self.auto_release_at,
            self.decided_by_id,
            self.decided_at,
            self.reason,
            self.message_id,
        )


# The columns a planned publication sets (attnames of ``Publication``); the others are
# left to their defaults (NULL: nothing is notified of an automatic release yet).
_PLAN_COLUMNS = (
    "enrolment_id",
    "patient_id",
    "category",
    "result_id",
    "document_id",
    "appointment_id",
    "state",
    "delay_days",
    "auto_release_at",
    "decided_by_id",
    "decided_at",
    "reason",
    "message_id",
)


def policies_for(enrolment: Enrolment) -> dict[str, ReleasePolicy]:
    """``policy_for`` of every category, read in one query."""
    # A fixed statement (``rms.sql.rows``): every opt-in reads them, and building the ORM's
    # query cost more than running it (bench/pkb_historic.py).
    found = {
        policy.category: policy
        for policy in sql.rows(ReleasePolicy, "team_id = %s", [enrolment.team_id])
    }
    return {
        category: found.get(category)
        or ReleasePolicy(
            team=enrolment.team, category=category, mode=DEFAULT_MODES.get(category, DEFAULT_MODE)
        )
        for category in Category.values
    }


def publications_plan(*, enrolment: Enrolment, items: Sequence[Item]) -> list[PublicationPlan]:
    """``publication_create`` for a new enrolment's whole record at once, planned, not saved:
    the team's policies read once. The caller links the messages, then ``publications_save``
    writes the rows and their decisions in bulk. Recorded as the system's decisions."""
    decider_id = system_user_id()
    now = timezone.now()
    # What each category's policy decides is the same for every item of it: worked out once.
    decisions: dict[str, tuple[str, int, dt.datetime | None, str]] = {}
    for category, policy in policies_for(enrolment).items():
        state: str = State.HELD if policy.mode == ReleasePolicy.Mode.HOLD else State.RELEASED
        delay = policy.delay_days if policy.mode == ReleasePolicy.Mode.DELAY else 0
        auto_release_at = None
        if state == State.HELD and policy.auto_release_days is not None:
            auto_release_at = now + dt.timedelta(days=policy.auto_release_days)
        reason = f"Team policy: {policy.get_mode_display().lower()}"
        if delay:
            reason += f" ({delay} days after the clinical time)"
        decisions[category] = (state, delay, auto_release_at, reason[:200])
    rows: list[PublicationPlan] = []
    enrolment_id, patient_id = enrolment.pk, enrolment.patient_id
    for item in items:
        category = category_of(item)
        state, delay, auto_release_at, reason = decisions[category]
        rows.append(
            PublicationPlan(
                enrolment_id=enrolment_id,
                patient_id=patient_id,
                category=category,
                item_field=_item_field(item),
                item_id=item.pk,
                state=state,
                delay_days=delay,
                auto_release_at=auto_release_at,
                decided_by_id=decider_id,
                decided_at=now,
                reason=reason,
            )
        )
    return rows


def publication_attach(
    publication: Publication, *, enrolment: Enrolment, item: Result | Document | Appointment
) -> Publication:
    """Give a planned publication its enrolment and item as objects (``send_item`` reads
    them), so that reading them costs no query."""
    publication.enrolment = enrolment
    setattr(publication, _item_field(item), item)
    return publication


def publications_save(*, planned: Sequence[PublicationPlan]) -> None:
    """Write planned publications (with their messages) and their first decisions in bulk."""
    db = router.db_for_write(Publication)
    enrolment_ids = {plan.enrolment_id for plan in planned}
    if connections[db].vendor == "postgresql":
        _publications_copy(planned, using=db)
        _first_decisions_insert_sql(enrolment_ids=enrolment_ids, using=db)
    else:
        Publication.objects.bulk_create([plan.as_publication() for plan in planned], batch_size=500)
        _first_decisions_insert(enrolment_ids=enrolment_ids)


def _publications_copy(planned: Sequence[PublicationPlan], *, using: str) -> None:
    """The rows written with PostgreSQL's COPY, in its binary format: a go-live upload writes
    a publication for every item of every record, and ``bulk_create`` preparing each value
    cost more CPU than everything else queueing a message does; the binary format takes the
    ids and times as they are, where the text format writes each out (0.8 against 1.4 ms
    for 200 rows here, bench/pkb_historic.py)."""
    db = connections[using]
    statement, types = _copy_statement(using)
    db.ensure_connection()
    with (
        db.wrap_database_errors,
        psycopg.Cursor(db.connection) as cursor,
        cursor.copy(statement) as copy,
    ):
        copy.set_types(types)
        for plan in planned:
            copy.write_row(plan.row())


@functools.cache
def _copy_statement(using: str) -> tuple[str, list[str]]:
    """The COPY of ``_PLAN_COLUMNS`` and each column's type, as the model declares it (a
    binary COPY names them: ``varchar(12)`` is written as ``varchar``)."""
    db = connections[using]
    quote = db.ops.quote_name
    field_of = {field.attname: field for field in Publication._meta.concrete_fields}
    fields = [field_of[name] for name in _PLAN_COLUMNS]
    columns = ", ".join(quote(str(field.column)) for field in fields)
    types = [str(field.db_type(db)).partition("(")[0] for field in fields]
    return (
        f"COPY {quote(Publication._meta.db_table)} ({columns}) FROM STDIN (FORMAT BINARY)",
        types,
    )


def _first_decisions_insert_sql(*, enrolment_ids: set[int], using: str) -> None:
    """``_first_decisions_insert`` as one fixed statement (PostgreSQL): compiling the ORM's
    query cost more than the database spends running it (bench/pkb_historic.py)."""
    if not enrolment_ids:
        return
    quote = connections[using].ops.quote_name
    publication = quote(Publication._meta.db_table)
    decision = quote(PublicationDecision._meta.db_table)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {decision} (publication_id, state, decided_by_id, decided_at, reason)
            SELECT p.id, p.state, p.decided_by_id, p.decided_at, p.reason
              FROM {publication} AS p
             WHERE p.enrolment_id = ANY(%s)
               AND NOT EXISTS (SELECT 1 FROM {decision} AS d WHERE d.publication_id = p.id)
             ORDER BY p.id
            """,  # noqa: S608 - names from the models' meta; values are parameters
            [sorted(enrolment_ids)],
        )


def _first_decisions_insert(*, enrolment_ids: set[int]) -> None:
    """Give every publication of these enrolments that has no decision yet (those just
    written: each publication gets its first decision in the transaction that makes it) that
    first decision, copied from the row by the database in one ``INSERT ... SELECT``: a
    record has thousands of items, and making, adapting and sending each decision's values
    from Python cost as much as writing the publications themselves. The SELECT is the
    ORM's, compiled for this call with its parameters."""
    if not enrolment_ids:
        return
    undecided = (
        Publication.objects.filter(enrolment_id__in=sorted(enrolment_ids))
        .exclude(Exists(PublicationDecision.objects.filter(publication=OuterRef("pk"))))
        .order_by("pk")
        .values_list("pk", "state", "decided_by_id", "decided_at", "reason")
    )
    db = router.db_for_write(PublicationDecision)
    select, params = undecided.query.get_compiler(using=db).as_sql()
    quote = connections[db].ops.quote_name
    meta = PublicationDecision._meta
    column_of = {field.name: field.column for field in meta.concrete_fields if field.column}
    columns = ", ".join(
        quote(column_of[name])
        for name in ("publication", "state", "decided_by", "decided_at", "reason")
    )
    with connections[db].cursor() as cursor:
        cursor.execute(f"INSERT INTO {quote(meta.db_table)} ({columns}) {select}", params)


# --- building the message for one item --------------------------------------------------------


def _delay_for(publication: Publication) -> int | None:
    return publication.delay_days or None


def _appointment_kind(appointment: Appointment, first: bool) -> str:
    if appointment.status == Appointment.Status.CANCELLED:
        return Kind.APPOINTMENT_CANCEL
    if appointment.status == Appointment.Status.DID_NOT_ATTEND:
        return Kind.APPOINTMENT_DNA
    return Kind.APPOINTMENT_NEW if first else Kind.APPOINTMENT_CHANGE


def send_item(
    *, publication: Publication, reason: str, save: bool = True
) -> OutboundMessage | None:
    """Queue the message that carries the item's current state to PKB (released items
    only). ``reason`` makes the source reference unique per event (a version, a status).
    With ``save=False`` the caller saves ``publication.message`` (in bulk)."""
    if publication.state != State.RELEASED:
        return None
    enrolment = publication.enrolment
    patient_data = compose.patient_data(enrolment.patient)
    delay = _delay_for(publication)
    message: OutboundMessage | None
    if publication.result is not None:
        result = publication.result
        if result.category == Result.Category.RADIOLOGY:
            report = compose.radiology_report(result, delay_days=delay)
            message = message_enqueue(
                enrolment=enrolment,
                kind=Kind.RADIOLOGY,
                source_ref=f"result:{result.pk}:{reason}",
                build=lambda ctx: hl7.build_oru_radiology(ctx, patient_data, report),
            )
        else:
            message = _send_lab(publication, result, patient_data, delay, reason)
    elif publication.document is not None:
        document = publication.document
        if (
            document.status == Document.Status.DELETED
            and document.document_type == Document.DocumentType.CARE_PLAN
        ):
            # PKB cannot delete a care plan and ignores MDM^T11 for one: the plan is replaced,
            # under its number, by a version saying it was withdrawn.
            withdrawal = compose.care_plan_withdrawal_data(document)
            message = message_enqueue(
                enrolment=enrolment,
                kind=Kind.DOCUMENT,
                source_ref=f"document:{document.pk}:{reason}",
                build=lambda ctx: hl7.build_care_plan(ctx, patient_data, withdrawal),
            )
        elif document.status == Document.Status.DELETED:
            message = message_enqueue(
                enrolment=enrolment,
                kind=Kind.DOCUMENT_DELETE,
                source_ref=f"document:{document.pk}:{reason}",
                build=lambda ctx: hl7.build_mdm_delete(ctx, patient_data, document.document_number),
            )
        elif document.document_type == Document.DocumentType.CARE_PLAN:
            plan = compose.care_plan_data(document, delay_days=delay)
            message = message_enqueue(
                enrolment=enrolment,
                kind=Kind.DOCUMENT,
                source_ref=f"document:{document.pk}:{reason}",
                build=lambda ctx: hl7.build_care_plan(ctx, patient_data, plan),
            )
        else:
            letter = compose.document_data(document, delay_days=delay)
            message = message_enqueue(
                enrolment=enrolment,
                kind=Kind.DOCUMENT,
                source_ref=f"document:{document.pk}:{reason}",
                build=lambda ctx: hl7.build_mdm(ctx, patient_data, letter),
            )
    else:
        appointment = publication.appointment
        if appointment is None:  # the check constraint makes this impossible
            raise RuntimeError("a publication without an item")
        kind = _appointment_kind(appointment, first=publication.message_id is None)
        booking = compose.appointment_data(appointment)
        trigger = cast("hl7.build.SiuTrigger", kind.split("^")[1])
        message = message_enqueue(
            enrolment=enrolment,
            kind=kind,
            source_ref=f"appointment:{appointment.pk}:{reason}",
            build=lambda ctx: hl7.build_siu(ctx, patient_data, booking, trigger=trigger),
        )
    if message is not None and save:
        publication.message = message
        publication.save(update_fields=["message"])
    elif message is not None:
        publication.message = message
    return message


def _send_lab(
    publication: Publication,
    result: Result,
    patient_data: hl7.Patient,
    delay: int | None,
    reason: str,
) -> OutboundMessage | None:
    """The ORU^R01 of a lab result. Observations the lab withdrew (OBX-11 W, D, X) are never
    sent. PKB keeps a result that a later message leaves out (pkb-hl7-interface.md 9.2), so
    when one is withdrawn from a report PKB may already hold, the report is first deleted
    (OBR-25 R) and then sent again with what remains; a report with nothing left stays deleted."""
    enrolment = publication.enrolment
    lab = compose.lab_report(result, delay_days=delay)
    delay_field = compose.delay_field()
    message: OutboundMessage | None = None
    if (
        lab.result_status != "R"
        and publication.message_id is not None
        and compose.lab_report_has_withdrawn(result)
    ):
        deletion = compose.lab_report_deletion(result)
        message = message_enqueue(
            enrolment=enrolment,
            kind=Kind.LAB,
            source_ref=f"result:{result.pk}:{reason}:withdrawal",
            build=lambda ctx: hl7.build_oru_lab(
                ctx, patient_data, [deletion], delay_field=delay_field
            ),
        )
    if lab.observations or lab.result_status == "R" or not compose.lab_report_has_withdrawn(result):
        message = (
            message_enqueue(
                enrolment=enrolment,
                kind=Kind.LAB,
                source_ref=f"result:{result.pk}:{reason}",
                build=lambda ctx: hl7.build_oru_lab(
                    ctx, patient_data, [lab], delay_field=delay_field
                ),
            )
            or message
        )
    return message


# --- clinician decisions --------------------------------------------------------------------


@transaction.atomic
def publication_release(*, publication: Publication, actor: User, reason: str = "") -> Publication:
    """Release a held item: it is sent to PKB now. Safe to repeat."""
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.state == State.RELEASED:
        return publication
    if publication.state == State.WITHDRAWN:
        raise ValidationError("This item was deleted at its source; there is nothing to release.")
    _decide(publication, State.RELEASED, actor, reason or "Released by a clinician")
    if publication.enrolment.status == Enrolment.Status.ACTIVE:
        send_item(publication=publication, reason=f"released:{publication.decisions.count()}")
    _settle_auto_release(publication)
    return publication


def _settle_auto_release(publication: Publication) -> None:
    """The announced automatic release of this item is no longer to come (released, or kept
    held): the review item is done."""
    if publication.auto_release_notified_at is not None:
        from pkb_bridge import signals

        signals.auto_release_settled.send(sender=Publication, publication=publication)


def item_ref(publication: Publication) -> str:
    """The prefix of the source references of every message about this item."""
    if publication.result_id is not None:
        return f"result:{publication.result_id}:"
    if publication.document_id is not None:
        return f"document:{publication.document_id}:"
    return f"appointment:{publication.appointment_id}:"


@transaction.atomic
def publication_hold(*, publication: Publication, actor: User, reason: str = "") -> Publication:
    """Hold an item back from the patient. Possible until PKB has any version of it: a
    message still waiting in the outbox is cancelled (a packed historic message is cancelled
    and its other items queued again on their own); one delivered, or being delivered,
    cannot be recalled. Holding an item already held that the team's policy would release
    automatically ("Keep held") cancels that release: it then waits for a clinician. Safe to
    repeat."""
    publication = Publication.objects.select_for_update().get(pk=publication.pk)
    if publication.state == State.HELD:
        if publication.auto_release_at is None:
            return publication
        # Held, with an automatic release to come: holding it means no automatic release.
        publication.auto_release_at = None
        _decide(
            publication,
            State.HELD,
            actor,
            reason or "Kept held by a clinician: no automatic release",
        )
        _settle_auto_release(publication)
        return publication
    carrying = OutboundMessage.objects.filter(enrolment=publication.enrolment).filter(
        Q(source_ref__startswith=item_ref(publication)) | Q(pk=publication.message_id)
    )
    if carrying.filter(
        status__in=[OutboundMessage.Status.IN_FLIGHT, OutboundMessage.Status.DELIVERED]
    ).exists():
        raise ValidationError(
            "PKB already has this item (or is receiving it now); it can no longer be held."
        )
    for message in carrying.filter(status=OutboundMessage.Status.PENDING):
        OutboundMessage.objects.filter(pk=message.pk).update(
            status=OutboundMessage.Status.CANCELLED, cancelled_reason="Held by a clinician"
        )
        companions = Publication.objects.filter(message=message, state=State.RELEASED).exclude(
            pk=publication.pk
        )
        for companion in companions:
            send_item(publication=companion, reason=f"repacked:{message.pk}")
    _decide(publication, State.HELD, actor, reason or "Held by a clinician")
    return publication


def _notice() -> dt.timedelta:
    return dt.timedelta(hours=settings.PKB_AUTO_RELEASE_NOTICE_HOURS)


@transaction.atomic
def publications_auto_release_notify(*, now: dt.datetime | None = None) -> int:
    """Announce every automatic release due within ``PKB_AUTO_RELEASE_NOTICE_HOURS`` (the
    sweeper's job): a review work item for the team, and the release moved, if need be, so
    that it happens no sooner than that notice after the item was raised. Returns how many
    were announced. Safe to repeat."""
    moment = now or timezone.now()
    notice = _notice()
    due: Sequence[Publication] = list(
        # Only the publications are locked, not the patients or teams read with them.
        Publication.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(
            state=State.HELD,
            auto_release_at__lte=moment + notice,
            auto_release_notified_at__isnull=True,
            enrolment__status=Enrolment.Status.ACTIVE,
        )
        .select_related("enrolment", "enrolment__team", "patient")
    )
    from pkb_bridge import signals

    for publication in due:
        publication.auto_release_notified_at = moment
        if (
            publication.auto_release_at is not None
            and publication.auto_release_at < moment + notice
        ):
            publication.auto_release_at = moment + notice
        publication.save(update_fields=["auto_release_notified_at", "auto_release_at"])
        signals.auto_release_due.send(sender=Publication, publication=publication)
    return len(due)


@transaction.atomic
def publications_auto_release(*, now: dt.datetime | None = None) -> int:
    """Release every held item whose automatic release time has come and was announced to
    the team (``publications_auto_release_notify``; the sweeper's job). Recorded as the
    system's decision. Safe to repeat."""
    moment = now or timezone.now()
    due: Sequence[Publication] = list(
        Publication.objects.select_for_update(skip_locked=True)
        .filter(
            state=State.HELD,
            auto_release_at__lte=moment,
            auto_release_notified_at__isnull=False,
            auto_release_notified_at__lte=moment - _notice(),
        )
        .select_related("enrolment")
    )
    actor = system_user()
    for publication in due:
        publication_release(
            publication=publication, actor=actor, reason="Released automatically by team policy"
        )
    return len(due)
