"""Delivering the outbox to PKB: claim, check, send, record; and the sweeper.

The rules (docs/adr/0003-pkb-outbox.md and the reliability reference §1.7 and §5.1):

- A claim is a short transaction holding the connection row's lock, so claims from every
  worker are serialised: at most ``PKB_MAX_IN_FLIGHT`` messages are in flight in all, never
  two of one patient, and a patient's messages go in ``seq`` order: a message is eligible
  only when every earlier message of its patient is delivered, rejected or cancelled, and the
  patient's registration has not been rejected (that blocks the queue until it is requeued),
  and the patient's NHS number is verified (01): otherwise everything of theirs is held.
- The send happens outside any transaction. Before it, the PID-3 identifiers of the payload
  are checked against the row's patient: a mismatch is never sent.
- The outcome is recorded in a second short transaction, with one ``DeliveryAttempt`` row
  holding the exact bytes sent and what came back.
- Transport failure (refused, timeout, 5xx, no ACK): retried with capped exponential backoff,
  same bytes, same MSH-10; the patient's later messages wait. AR or AE: not retried (PKB's
  advice); marked rejected with PKB's text, except an ADT whose email PKB refused (another
  PKB record has it), rebuilt without the email and sent again at once. 401/403: the whole
  connection is paused and nothing is marked failed. An ACK for another control id is not
  success. Failing past ``PKB_STALL_AFTER_ATTEMPTS`` or ``PKB_STALL_AFTER_HOURS``: stalled,
  still retried, an administrator told.
- The sweeper gives back rows stuck in flight past their lease, or at once when the claimant
  was a process of this host that is gone (a killed worker), releases held items whose time
  has come (announced to the team first), prunes old bodies and rings the doorbell.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import random
import re
import socket
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Func, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import LessThan
from django.utils import timezone

from pkb_bridge import hl7
from pkb_bridge.hl7 import MessageCheckError, parse_ack, pid3_identifiers
from pkb_bridge.models import Connection, DeliveryAttempt, Enrolment, OutboundMessage
from pkb_bridge.services import delivery_sql
from pkb_bridge.services.alerts import on_message_rejected
from pkb_bridge.services.outbox import Builder
from pkb_bridge.transport import PkbTransport, SendResult, TransportError
from rms.models import NhsNumberStatus

logger = logging.getLogger("pkb_bridge")
Status = OutboundMessage.Status
Outcome = DeliveryAttempt.Outcome


def worker_name() -> str:
    """Who holds a claim: ``host:pid:thread``. A starting worker reads it back to find the
    claims of processes of its host that are gone (``messages_release_orphaned``)."""
    import os
    import threading

    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:100]


def _process_gone(pid: int) -> bool:
    """Whether the process has exited. A process that has exited but not yet been reaped (a
    zombie) is gone too: a worker's pool children, killed with it, are handed to PID 1, and in
    a container PID 1 may reap them late or never, while ``kill(pid, 0)`` still succeeds."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, under another user
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            # "pid (comm) state ...": the state follows the last ")" (comm may hold either).
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (not Linux): kill() said it exists
        return False
    return state in (b"Z", b"X")


def _locked_connection() -> Connection:
    """The connection row, locked for this transaction (created if a test flushed it)."""
    connection = Connection.objects.select_for_update().filter(name="pkb").first()
    if connection is None:
        try:
            with transaction.atomic():
                Connection.objects.create(name="pkb")
        except IntegrityError:
            pass
        connection = Connection.objects.select_for_update().get(name="pkb")
    return connection


@functools.cache
def _eligible_base() -> QuerySet[OutboundMessage]:
    # Built once per process and only ever chained from (never evaluated itself): its two
    # correlated subqueries cost more to build than the whole query costs to compile, and
    # the dispatcher asks for it before every message.
    earlier_open = OutboundMessage.objects.filter(
        patient=OuterRef("patient"), seq__lt=OuterRef("seq"), status__in=OutboundMessage.OPEN
    )
    blocked = OutboundMessage.objects.filter(
        patient=OuterRef("patient"),
        status=Status.REJECTED,
        kind=OutboundMessage.Kind.REGISTRATION,
    )
    return (
        OutboundMessage.objects.filter(
            status=Status.PENDING,
            enrolment__status=Enrolment.Status.ACTIVE,
            # A patient whose NHS number is no longer verified: everything waits (PKB routes
            # an unverified number to manual review), then goes in order once it is again.
            patient__nhs_number_status=NhsNumberStatus.VERIFIED,
        )
        .exclude(Exists(earlier_open))
        .exclude(Exists(blocked))
        .order_by("next_attempt_at", "id")
    )


def eligible_messages(now: dt.datetime) -> QuerySet[OutboundMessage]:
    """Pending, due messages that are the head of their patient's queue and not blocked."""
    return _eligible_base().filter(next_attempt_at__lte=now)


@functools.cache
def _in_flight_count() -> Subquery:
    # COUNT as a plain function, not an aggregate: one row, no GROUP BY, 0 when none.
    return Subquery(
        OutboundMessage.objects.filter(status=Status.IN_FLIGHT)
        .order_by()
        .annotate(count=Func(F("pk"), function="COUNT"))
        .values("count")
    )


def message_claim(*, worker: str) -> OutboundMessage | None:
    """Claim the next eligible message, or None (nothing due, the cap reached, or the
    connection paused). Safe to call from any number of workers at once."""
    now = timezone.now()
    if delivery_sql.available():
        return _claim_postgresql(now=now, worker=worker)
    with transaction.atomic():
        if _locked_connection().paused:
            return None
        # Only a row still pending is taken: a message cancelled since it was read (its
        # cancellation does not take the connection lock) is left alone and the next one tried.
        # The cap is checked by the UPDATE itself, not by a count before it (one statement
        # fewer a message).
        for _ in range(3):
            candidate = eligible_messages(now).select_related("patient").first()
            if candidate is None:
                return None
            taken = (
                OutboundMessage.objects.filter(pk=candidate.pk, status=Status.PENDING)
                .filter(LessThan(_in_flight_count(), settings.PKB_MAX_IN_FLIGHT))
                .update(
                    status=Status.IN_FLIGHT,
                    in_flight_since=now,
                    claimed_by=worker,
                    attempts=F("attempts") + 1,
                )
            )
            if taken:
                # The row as the update left it, without reading it (and its payload) again:
                # every change of ``attempts`` happens under the connection lock held here, so
                # the value read above plus one is the stored one.
                candidate.status = Status.IN_FLIGHT
                candidate.in_flight_since = now
                candidate.claimed_by = worker
                candidate.attempts += 1
                return candidate
            if _in_flight_count_now() >= settings.PKB_MAX_IN_FLIGHT:
                return None
        return None


def _in_flight_count_now() -> int:
    return OutboundMessage.objects.filter(status=Status.IN_FLIGHT).count()


def _claim_postgresql(*, now: dt.datetime, worker: str) -> OutboundMessage | None:
    """The claim on PostgreSQL: the connection row's lock and the claim in one round trip,
    one transaction (``delivery_sql.lock_and_claim``; bench/pkb_historic.py). Nothing taken
    can mean the row chosen was changed meanwhile (a cancellation, which does not take the
    lock): tried again while something is due and the cap is not reached."""
    for _ in range(3):
        paused, claimed = delivery_sql.lock_and_claim(
            now=now, worker=worker, cap=settings.PKB_MAX_IN_FLIGHT
        )
        if claimed is not None:
            return claimed
        if paused is None:
            with transaction.atomic():
                _locked_connection()  # creates the row a test flushed
            continue
        if paused or not eligible_messages(now).exists():
            return None
        if _in_flight_count_now() >= settings.PKB_MAX_IN_FLIGHT:
            return None
    return None


def conformance_problem(message: OutboundMessage) -> str | None:
    """Why the payload must not be sent because it departs from PKB's conformance profile
    (``pkb_bridge.hl7.profile``), or None."""
    problems = hl7.profile.check(
        message.payload, radiology_applications=[settings.PKB_RADIOLOGY_APPLICATION]
    )
    if not problems:
        return None
    return (
        "Not sent: the message does not conform to PKB's interface ("
        + hl7.profile.profile_name(
            message.payload, radiology_applications=[settings.PKB_RADIOLOGY_APPLICATION]
        )
        + "): "
        + "; ".join(problems)
    )[:2000]


def identifiers_problem(message: OutboundMessage) -> str | None:
    """Why the payload must not be sent for this row's patient, or None. Guards the "right
    payload, wrong patient" bug: PID-3 must carry exactly the patient's NHS number."""
    patient = message.patient
    try:
        identifiers = pid3_identifiers(message.payload)
    except MessageCheckError as exc:
        return f"The message's PID could not be read: {exc}"
    numbers = {value for value, authority, _ in identifiers if authority == "NHS"}
    if numbers != {patient.nhs_number} or message.expected_nhs_number != patient.nhs_number:
        return (
            "The NHS number in the message's PID-3 is not the patient's current NHS number; "
            "not sent."
        )
    return None


def _verified_status_carried(message: OutboundMessage) -> None:
    """A message built while the patient's NHS number was not verified was held until it is
    (``_eligible_base``): its PID-3 status (``NH{status:NN}``) and PID-32 (``NSTSNN``) are
    set to the patient's current, verified status before its first send, so that PKB files
    it rather than routing it to manual review (PKB interface §5.3). The payload is saved:
    every attempt sends the same bytes. Nothing else of the message changes."""
    patient = message.patient
    if patient.nhs_number_status != NhsNumberStatus.VERIFIED or not patient.nhs_number:
        return
    segments = message.payload.split("\r")
    changed = False
    for index, segment in enumerate(segments):
        if not segment.startswith("PID|"):
            continue
        fields = segment.split("|")
        prefix = f"{patient.nhs_number}^^^NHS^NH{{status:"
        repetitions = fields[3].split("~") if len(fields) > 3 else []
        for number, identifier in enumerate(repetitions):
            if identifier.startswith(prefix) and identifier != f"{prefix}01}}":
                repetitions[number] = f"{prefix}01}}"
                changed = True
        if repetitions:
            fields[3] = "~".join(repetitions)
        if len(fields) > 32 and fields[32].startswith("NSTS") and fields[32] != "NSTS01":
            fields[32] = "NSTS01"
            changed = True
        segments[index] = "|".join(fields)
    if changed:
        message.payload = "\r".join(segments)
        OutboundMessage.objects.filter(pk=message.pk).update(payload=message.payload)
        logger.info(
            "Outbound message %s carries the patient's NHS number as verified again",
            message.public_id,
        )


@dataclass(frozen=True)
class SendOutcome:
    outcome: str
    detail: str = ""


def _backoff(attempts: int) -> dt.timedelta:
    base = settings.PKB_RETRY_BASE_S * (2 ** max(0, attempts - 1))
    seconds = min(settings.PKB_RETRY_MAX_S, base)
    # ±10% jitter so that retries after an outage do not arrive in lockstep.
    return dt.timedelta(seconds=seconds * random.uniform(0.9, 1.1))  # noqa: S311


def _record(
    message: OutboundMessage,
    *,
    worker: str,
    started: dt.datetime,
    outcome: str,
    sent: SendResult | None = None,
    error: TransportError | None = None,
    ack: hl7.Ack | None = None,
    detail: str = "",
) -> None:
    DeliveryAttempt.objects.create(
        message=message,
        started_at=started,
        finished_at=timezone.now(),
        outcome=outcome,
        http_status=(sent.status_code if sent else getattr(error, "status_code", None)),
        ack_code=(ack.code or "") if ack else "",
        ack_control_id=(ack.control_id or "")[:64] if ack else "",
        ack_text=(ack.text or "") if ack else "",
        error_kind=error.kind if error else "",
        error=detail or (str(error) if error else ""),
        # On a failure the bytes sent are the envelope of the payload (built the same way).
        request_body=sent.request_body if sent else hl7.build_envelope(message.payload),
        response_body=sent.response_body if sent else getattr(error, "response_body", None),
        worker=worker,
    )


def _record_accepted(
    message: OutboundMessage, *, worker: str, started: dt.datetime, sent: SendResult, ack: hl7.Ack
) -> None:
    """The accepted attempt recorded and the message marked delivered (unless cancelled
    meanwhile): one statement on PostgreSQL (bench/pkb_historic.py), two through the ORM."""
    if delivery_sql.available():
        delivery_sql.delivered(
            message_id=message.pk,
            started=started,
            finished=timezone.now(),
            http_status=sent.status_code,
            ack=ack,
            request_body=sent.request_body,
            response_body=sent.response_body,
            worker=worker,
        )
        return
    _record(message, worker=worker, started=started, outcome=Outcome.ACCEPTED, sent=sent, ack=ack)
    OutboundMessage.objects.filter(pk=message.pk).exclude(status=Status.CANCELLED).update(
        status=Status.DELIVERED,
        delivered_at=timezone.now(),
        ack_code="AA",
        ack_text=ack.text or "",
        last_error="",
        in_flight_since=None,
        failures=0,
        failing_since=None,
    )


def message_send(*, message: OutboundMessage, transport: PkbTransport, worker: str) -> SendOutcome:
    """Send one claimed message and record the outcome (see the module docstring). Only the
    claimant's state is changed: a row the sweeper gave away meanwhile is left to its new
    claimant, except that an acceptance is always recorded."""
    started = timezone.now()
    _verified_status_carried(message)
    problem = identifiers_problem(message)
    # A message PKB would show wrongly (conformance_problem) is held the same way, never sent.
    problem = problem or conformance_problem(message)
    if problem:
        logger.critical(
            "Outbound message %s refused before sending: %s", message.public_id, problem
        )
        with transaction.atomic():
            _record(
                message, worker=worker, started=started, outcome=Outcome.REFUSED, detail=problem
            )
            OutboundMessage.objects.filter(pk=message.pk, status=Status.IN_FLIGHT).update(
                status=Status.REJECTED, last_error=problem, ack_code="", in_flight_since=None
            )
        return SendOutcome(Outcome.REFUSED, problem)

    try:
        sent = transport.send(message.payload)
    except TransportError as error:
        return _transport_failed(message, error=error, worker=worker, started=started)

    ack = parse_ack(sent.ack_text)
    if ack.code == "AA" and ack.control_id == message.control_id:
        if delivery_sql.available() and not (
            message.kind == OutboundMessage.Kind.REGISTRATION or message.attempts > 1
        ):
            # Nothing follows a first-time acceptance: one statement, no transaction around it.
            _record_accepted(message, worker=worker, started=started, sent=sent, ack=ack)
            return SendOutcome(Outcome.ACCEPTED)
        with transaction.atomic():
            _record_accepted(message, worker=worker, started=started, sent=sent, ack=ack)
            if message.kind == OutboundMessage.Kind.REGISTRATION:
                from pkb_bridge.services.invitations import on_registration_accepted

                on_registration_accepted(enrolment_id=message.enrolment_id)
            if message.attempts > 1:
                # Delivered after a failure or a requeue: whatever was raised about it is done.
                from pkb_bridge import signals

                signals.message_delivered.send(sender=OutboundMessage, message=message)
                if message.stalled_at is not None and not _stalled().exists():
                    signals.stalls_cleared.send(sender=OutboundMessage)
        return SendOutcome(Outcome.ACCEPTED)

    if ack.code in ("AR", "AE") and ack.control_id == message.control_id:
        # PKB's advice: no automatic retry; a person looks at PKB's reason.
        text = ack.text or "(PKB gave no reason)"
        if _refuses_the_email(message, ack):
            _register_without_email(message, worker=worker, started=started, sent=sent, ack=ack)
            return SendOutcome(Outcome.REJECTED, text)
        # PKB's text can quote the patient (a name, an NHS number): it goes on the row and the
        # work item, never into the log.
        logger.warning(
            "PKB rejected outbound message %s (%s); the reason is on the message",
            message.public_id,
            ack.code,
        )
        _mark_rejected(
            message,
            worker=worker,
            started=started,
            sent=sent,
            ack=ack,
            ack_code=ack.code,
            ack_text=text,
            last_error=f"PKB answered {ack.code}: {text}",
        )
        return SendOutcome(Outcome.REJECTED, text)

    if ack.code is not None:
        # An acknowledgement of another message (MSA-2 is not our MSH-10) is not success:
        # the outcome of ours is unknown. Held as rejected, for a person to requeue.
        detail = (
            f"PKB's acknowledgement ({ack.code}) names control id {ack.control_id!r}, not this "
            "message's; its outcome is unknown. Check in PKB, then requeue or cancel."
        )
        _mark_rejected(
            message,
            worker=worker,
            started=started,
            sent=sent,
            ack=ack,
            detail=detail,
            ack_code=ack.code,
            ack_text=ack.text or "",
            last_error=detail,
        )
        return SendOutcome(Outcome.REJECTED, detail)

    no_ack = TransportError("bad_response", "the response held no HL7 acknowledgement")
    return _transport_failed(message, error=no_ack, worker=worker, started=started, sent=sent)


# PKB rejects a message carrying an email another PKB record already has (PKB interface §5.3,
# "An email address can belong to only one PKB record"). PKB's exact wording is not published;
# the sandbox answers "Email address already in use by another patient".
_EMAIL_IN_USE = re.compile(r"e-?mail.{0,80}\b(in use|already|another)\b", re.IGNORECASE | re.DOTALL)
_DEMOGRAPHICS = (OutboundMessage.Kind.REGISTRATION, OutboundMessage.Kind.UPDATE)


def _refuses_the_email(message: OutboundMessage, ack: hl7.Ack) -> bool:
    """PKB's AR says the ADT's email belongs to another PKB record (and it is not an email
    we have already left out)."""
    if message.kind not in _DEMOGRAPHICS or ack.code != "AR":
        return False
    if not _EMAIL_IN_USE.search(ack.text or ""):
        return False
    enrolment = Enrolment.objects.select_related("patient").get(pk=message.enrolment_id)
    return bool(enrolment.patient.email) and not enrolment.email_is_refused()


def _register_without_email(
    message: OutboundMessage,
    *,
    worker: str,
    started: dt.datetime,
    sent: SendResult,
    ack: hl7.Ack,
) -> None:
    """PKB refused the patient's email: the attempt is recorded as rejected, the email is
    noted as refused (no invitation goes to it), and the same row (its place in the patient's
    queue kept: a registration comes first) is rebuilt from the current record without the
    email, with a new MSH-10, to be sent at once. The team gets a work item saying so."""
    from pkb_bridge import signals
    from pkb_bridge.services.enrolment import adt_builder

    with transaction.atomic():
        _record(
            message, worker=worker, started=started, outcome=Outcome.REJECTED, sent=sent, ack=ack
        )
        enrolment = (Enrolment.objects.select_for_update().select_related("patient", "team")).get(
            pk=message.enrolment_id
        )
        enrolment.email_refused = enrolment.patient.email
        enrolment.save(update_fields=["email_refused"])
        trigger = "A28" if message.kind == OutboundMessage.Kind.REGISTRATION else "A31"
        control_id, payload = _built(enrolment, adt_builder(enrolment, trigger=trigger))
        rebuilt = OutboundMessage.objects.filter(
            pk=message.pk, status=Status.IN_FLIGHT, claimed_by=worker
        ).update(
            status=Status.PENDING,
            control_id=control_id,
            payload=payload,
            expected_nhs_number=enrolment.patient.nhs_number or "",
            next_attempt_at=timezone.now(),
            in_flight_since=None,
            claimed_by="",
            ack_code="AR",
            ack_text=ack.text or "",
            last_error=(
                f"PKB refused the email (another PKB record has it): {ack.text or ''} "
                "Sent again without the email."
            )[:2000],
        )
        if rebuilt:
            logger.warning(
                "PKB refused the email of outbound message %s; sent again without it",
                message.public_id,
            )
            signals.registration_email_refused.send(
                sender=OutboundMessage, message=message, enrolment=enrolment
            )


def _built(enrolment: Enrolment, build: Builder) -> tuple[str, str]:
    """A new MSH-10 and the message built with it, for ``enrolment``'s team."""
    from pkb_bridge import compose

    control_id = compose.new_control_id()
    return control_id, build(compose.context_for(enrolment.team, control_id))


def _mark_rejected(
    message: OutboundMessage,
    *,
    worker: str,
    started: dt.datetime,
    sent: SendResult | None = None,
    ack: hl7.Ack | None = None,
    error: TransportError | None = None,
    detail: str = "",
    **fields: str,
) -> None:
    """Record the attempt, mark the row rejected (if this worker still holds it) and tell the
    worklists: the one ending of every failure that sending again cannot cure."""
    with transaction.atomic():
        _record(
            message,
            worker=worker,
            started=started,
            outcome=Outcome.REJECTED,
            sent=sent,
            ack=ack,
            error=error,
            detail=detail,
        )
        OutboundMessage.objects.filter(
            pk=message.pk, status=Status.IN_FLIGHT, claimed_by=worker
        ).update(
            status=Status.REJECTED, in_flight_since=None, failures=0, failing_since=None, **fields
        )
        on_message_rejected(message_id=message.pk)


def _transport_failed(
    message: OutboundMessage,
    *,
    error: TransportError,
    worker: str,
    started: dt.datetime,
    sent: SendResult | None = None,
) -> SendOutcome:
    mine = OutboundMessage.objects.filter(pk=message.pk, status=Status.IN_FLIGHT, claimed_by=worker)
    with transaction.atomic():
        if error.kind == "http_auth":
            # Credentials or the source address refused: every message would fail the same
            # way. Pause the connection and give the row back untouched.
            _record(
                message,
                worker=worker,
                started=started,
                outcome=Outcome.PAUSED,
                error=error,
                sent=sent,
            )
            connection = _locked_connection()
            connection.paused = True
            connection.paused_at = timezone.now()
            connection.paused_reason = str(error)[:2000]
            connection.save()
            mine.update(
                status=Status.PENDING,
                attempts=F("attempts") - 1,
                in_flight_since=None,
                claimed_by="",
                last_error=str(error)[:2000],
            )
            logger.critical("PKB connection paused: %s", error)
            return SendOutcome(Outcome.PAUSED, str(error))
        if error.permanent:
            # A failure that sending again cannot cure (a 4xx other than auth or throttling,
            # content XML cannot carry): no retry loop; held as rejected for a person.
            _mark_rejected(
                message,
                worker=worker,
                started=started,
                sent=sent,
                error=error,
                last_error=f"{error.kind}: {error}"[:2000],
            )
            logger.warning(
                "Outbound message %s failed permanently: %s", message.public_id, error.kind
            )
            return SendOutcome(Outcome.REJECTED, str(error))
        _record(
            message,
            worker=worker,
            started=started,
            outcome=Outcome.TRANSIENT,
            error=error,
            sent=sent,
        )
        # Transient failures are retried: PKB may have received the message even when we did
        # not hear back, and the same MSH-10 and filler order number make a repeat harmless.
        updated = mine.update(
            status=Status.PENDING,
            next_attempt_at=timezone.now() + _backoff(message.attempts),
            in_flight_since=None,
            claimed_by="",
            last_error=f"{error.kind}: {error}"[:2000],
            failures=F("failures") + 1,
            failing_since=Coalesce(F("failing_since"), Value(started)),
        )
        if updated:
            _stall_if_due(message.pk)
    logger.info("Outbound message %s will be retried: %s", message.public_id, error.kind)
    return SendOutcome(Outcome.TRANSIENT, str(error))


def _stalled() -> QuerySet[OutboundMessage]:
    """Messages still to go that are stalled."""
    return OutboundMessage.objects.filter(status__in=OutboundMessage.OPEN, stalled_at__isnull=False)


def _stall_if_due(message_id: int) -> None:
    """Mark the message stalled (once per run of failures) when it has failed
    ``PKB_STALL_AFTER_ATTEMPTS`` times in a row or for ``PKB_STALL_AFTER_HOURS``, and tell the
    worklists (an administrator's item). It is still retried: the cause may be PKB's."""
    row = OutboundMessage.objects.select_for_update().get(pk=message_id)
    if row.stalled_at is not None or row.failing_since is None:
        return
    now = timezone.now()
    too_long = now - row.failing_since >= dt.timedelta(hours=settings.PKB_STALL_AFTER_HOURS)
    if row.failures < settings.PKB_STALL_AFTER_ATTEMPTS and not too_long:
        return
    row.stalled_at = now
    row.save(update_fields=["stalled_at"])
    logger.error(
        "Outbound message %s stalled: %d failed attempts in a row since %s",
        row.public_id,
        row.failures,
        row.failing_since.isoformat(),
    )
    from pkb_bridge import signals

    signals.message_stalled.send(sender=OutboundMessage, message=row)


def transport_from_settings() -> PkbTransport:
    return PkbTransport(
        settings.PKB_URL,
        settings.PKB_USERNAME,
        settings.PKB_PASSWORD,
        connect_timeout_s=settings.PKB_CONNECT_TIMEOUT_S,
        deadline_s=settings.PKB_TIMEOUT_S,
        ca_bundle=settings.PKB_CA_BUNDLE or None,
        verify=settings.PKB_VERIFY_TLS,
        soap_action=settings.PKB_SOAP_ACTION,
    )


def dispatch(*, transport: PkbTransport, budget_s: float | None = None) -> int:
    """Claim and send messages one after another until none is eligible or the time budget
    is spent. Returns how many were sent. Safe to run in many workers at once."""
    import time

    deadline = time.monotonic() + (
        budget_s if budget_s is not None else settings.PKB_DISPATCH_BUDGET_S
    )
    worker = worker_name()
    sent = 0
    while time.monotonic() < deadline:
        message = message_claim(worker=worker)
        if message is None:
            break
        message_send(message=message, transport=transport, worker=worker)
        sent += 1
    return sent


@transaction.atomic
def messages_requeue_stuck(*, now: dt.datetime | None = None) -> int:
    """Give back rows in flight past their lease (their worker died mid-send). They are sent
    again with the same bytes and MSH-10. Safe to repeat."""
    moment = now or timezone.now()
    cutoff = moment - dt.timedelta(seconds=settings.PKB_IN_FLIGHT_LEASE_S)
    count = OutboundMessage.objects.filter(
        status=Status.IN_FLIGHT, in_flight_since__lt=cutoff
    ).update(status=Status.PENDING, in_flight_since=None, claimed_by="", next_attempt_at=moment)
    if count:
        logger.warning("Requeued %d outbound message(s) stuck in flight", count)
    return count


@transaction.atomic
def messages_release_orphaned(*, host: str | None = None, now: dt.datetime | None = None) -> int:
    """Give back, at once, rows in flight whose claimant was a process of this host that no
    longer exists (a worker killed mid-send, then started again): without waiting for the
    lease, during which nothing else could be sent (one message in flight at a time). The
    claim names the process (``worker_name``); a process alive, or of another host, keeps its
    claim until its lease runs out. Sent again with the same bytes and MSH-10. Safe to
    repeat."""
    moment = now or timezone.now()
    here = host or socket.gethostname()
    orphaned: list[int] = []
    for pk, claimed_by in OutboundMessage.objects.filter(
        status=Status.IN_FLIGHT, claimed_by__startswith=f"{here}:"
    ).values_list("pk", "claimed_by"):
        parts = claimed_by.split(":")
        if len(parts) >= 3 and parts[-2].isdigit() and _process_gone(int(parts[-2])):
            orphaned.append(pk)
    if not orphaned:
        return 0
    count = OutboundMessage.objects.filter(
        pk__in=orphaned, status=Status.IN_FLIGHT, claimed_by__startswith=f"{here}:"
    ).update(status=Status.PENDING, in_flight_since=None, claimed_by="", next_attempt_at=moment)
    if count:
        logger.warning(
            "Gave back %d outbound message(s) claimed by a process of this host that is gone", count
        )
    return count


@transaction.atomic
def bodies_prune(*, now: dt.datetime | None = None) -> int:
    """Remove request and response bodies older than the retention period (they hold patient
    data); the attempt rows stay. Never touches the message payload of an open row."""
    moment = now or timezone.now()
    cutoff = moment - dt.timedelta(days=settings.PKB_BODY_RETENTION_DAYS)
    return DeliveryAttempt.objects.filter(
        finished_at__lt=cutoff, bodies_pruned_at__isnull=True
    ).update(request_body=None, response_body=None, bodies_pruned_at=moment)


@transaction.atomic
def message_requeue(*, message: OutboundMessage, actor: User) -> OutboundMessage:
    """Send a rejected or cancelled message again after a fix, rebuilt from the current
    record with a new MSH-10 (PKB gets what the record says now, not the bytes it refused).
    A registration or demographics update is rebuilt in its own row, keeping its place in the
    patient's queue (requeuing a rejected registration unblocks the queue), and so is an
    item's message, from the item's current state; a packed historic message is cancelled and
    each of its items queued again on its own, at the end of the queue (each carries its
    item's latest state, so nothing queued before it is newer). Returns the message that will
    be sent. Refused (ValidationError) for a patient no longer shared or an item now held or
    deleted. Safe to repeat."""
    message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
    if message.status not in (Status.REJECTED, Status.CANCELLED):
        return message
    enrolment = Enrolment.objects.select_related("patient", "team").get(pk=message.enrolment_id)
    if enrolment.status != Enrolment.Status.ACTIVE:
        raise ValidationError("The patient is no longer shared with PKB; nothing is sent.")
    rebuilt: tuple[str, str, str] | None = None
    if message.kind not in _DEMOGRAPHICS:
        rebuilt, replacement = _requeue_items(message, actor=actor)
        if replacement is not None:
            return replacement
    if rebuilt is not None:
        message.kind, message.control_id, message.payload = rebuilt
    elif message.kind in _DEMOGRAPHICS:
        from pkb_bridge.services.enrolment import adt_builder

        trigger = "A28" if message.kind == OutboundMessage.Kind.REGISTRATION else "A31"
        message.control_id, message.payload = _built(
            enrolment, adt_builder(enrolment, trigger=trigger)
        )
    else:
        # No item to rebuild it from (its publication is gone): the same content under a
        # new MSH-10.
        message.control_id, message.payload = _with_control_id(message.payload, _new_control_id())
    message.expected_nhs_number = enrolment.patient.nhs_number or ""
    message.status = Status.PENDING
    message.next_attempt_at = timezone.now()
    message.last_error = f"Requeued by {actor.get_username()}"
    message.cancelled_reason = ""
    message.failures = 0
    message.failing_since = None
    message.stalled_at = None
    message.save()
    from pkb_bridge.services.outbox import kick_dispatcher_on_commit

    kick_dispatcher_on_commit()
    return message


def _new_control_id() -> str:
    from pkb_bridge import compose

    return compose.new_control_id()


def _with_control_id(payload: str, control_id: str) -> tuple[str, str]:
    """The payload with MSH-10 replaced by ``control_id``."""
    segments = payload.split("\r")
    fields = segments[0].split("|")
    if segments[0].startswith("MSH|") and len(fields) > 9:
        fields[9] = control_id
        segments[0] = "|".join(fields)
    return control_id, "\r".join(segments)


class _Discard(Exception):
    """Rolls back the savepoint in which a message was built only to be read."""


def _item_message(publication: Any, reason: str) -> tuple[str, str, str] | None:
    """(kind, MSH-10, payload) of the message that carries the item's current state, built
    by the code that queues it (``send_item``) in a savepoint rolled back afterwards: nothing
    of it is kept but what is returned."""
    from pkb_bridge.services.publication import send_item

    built: tuple[str, str, str] | None = None
    try:
        with transaction.atomic():
            queued = send_item(publication=publication, reason=reason, save=False)
            if queued is not None:
                built = (queued.kind, queued.control_id, queued.payload)
            raise _Discard
    except _Discard:
        pass
    return built


def _requeue_items(
    message: OutboundMessage, *, actor: User
) -> tuple[tuple[str, str, str] | None, OutboundMessage | None]:
    """What requeuing an item's message sends: for a message carrying one item, that item's
    message built from the current record (kind, MSH-10, payload), to go in the same row; for
    a packed historic message, the message is cancelled and each item queued again on its own
    (returned as the second value). (None, None) when it carries no item still known.
    Refuses when an item is now held or deleted."""
    from pkb_bridge.models import Publication
    from pkb_bridge.services.publication import item_ref, send_item

    carried = list(
        Publication.objects.filter(message=message).select_related(
            "enrolment", "enrolment__team", "enrolment__patient"
        )
    )
    if not carried:
        # A later message of the item has taken its place on the publication: the item is
        # the one the source reference names ("result:12:v2").
        field, _, rest = message.source_ref.partition(":")
        item_id = rest.partition(":")[0]
        if field in ("result", "document", "appointment") and item_id.isdigit():
            carried = list(
                Publication.objects.filter(
                    enrolment_id=message.enrolment_id, **{f"{field}_id": int(item_id)}
                ).select_related("enrolment", "enrolment__team", "enrolment__patient")
            )
            carried = [p for p in carried if message.source_ref.startswith(item_ref(p))]
    if not carried:
        return None, None
    not_released = [p for p in carried if p.state != Publication.State.RELEASED]
    if not_released:
        raise ValidationError(
            "This message carries an item that is now "
            f"{not_released[0].get_state_display().lower()}: release the item from the "
            "patient's page instead of requeuing the message."
        )
    if len(carried) == 1:
        rebuilt = _item_message(carried[0], f"requeued:{message.pk}:{uuid.uuid4().hex[:8]}")
        if rebuilt is None:
            raise ValidationError("The item has nothing to send to PKB any more.")
        return rebuilt, None
    OutboundMessage.objects.filter(pk=message.pk).update(
        status=Status.CANCELLED,
        cancelled_reason=f"Requeued by {actor.get_username()}: rebuilt as a new message"[:200],
    )
    latest: OutboundMessage | None = None
    for publication in carried:
        latest = (
            send_item(
                publication=publication, reason=f"requeued:{message.pk}:{uuid.uuid4().hex[:8]}"
            )
            or latest
        )
    from pkb_bridge.services.outbox import kick_dispatcher_on_commit

    kick_dispatcher_on_commit()
    return None, latest


@transaction.atomic
def message_cancel(*, message: OutboundMessage, actor: User, reason: str) -> OutboundMessage:
    """Cancel a message that is waiting or was rejected: it will never be sent. Safe to repeat."""
    message = OutboundMessage.objects.select_for_update().get(pk=message.pk)
    if message.status in (Status.PENDING, Status.REJECTED):
        message.status = Status.CANCELLED
        message.cancelled_reason = f"{actor.get_username()}: {reason}"[:200]
        message.save()
        if message.stalled_at is not None and not _stalled().exists():
            from pkb_bridge import signals

            signals.stalls_cleared.send(sender=OutboundMessage)
    return message


@transaction.atomic
def connection_resume(*, actor: User) -> Connection:
    """Resume a paused connection (after PKB's credentials or allowlist were fixed)."""
    connection = _locked_connection()
    if connection.paused:
        connection.paused = False
        connection.resumed_by = actor
        connection.resumed_at = timezone.now()
        connection.save()
        from pkb_bridge.services.outbox import kick_dispatcher_on_commit

        kick_dispatcher_on_commit()
    return connection


def pending_due() -> bool:
    return eligible_messages(timezone.now()).exists()
