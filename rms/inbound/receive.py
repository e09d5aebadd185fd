"""Receiving one HL7 v2 message: store it, process it, acknowledge it.

The order is the guarantee (reliability reference, §1.7 and §5.2):

1. In one database transaction: the raw bytes are stored as an ``InboundMessage`` first;
   then the message is decoded, parsed, matched and filed inside a savepoint. Anything that
   goes wrong while processing rolls back to the savepoint only, so the raw message stays,
   marked refused with the reason, and can be reprocessed from admin after a fix.
2. The acknowledgement is built inside the transaction but returned only after it commits:
   ``AA`` means "stored and filed (or held for a person)", never "about to be".
3. A database that is down raises out of here: the caller sends no acknowledgement and the
   sender keeps the message and sends it again.
4. The same sender and control id (MSH-3, MSH-4, MSH-10) again gets the stored
   acknowledgement back and is not processed twice.

With ``INBOUND_ACK_AFTER=storing`` step 1 stops after the message is stored and has parsed as
a message type we file (one we never will is refused at once, as above); ``AA`` then means
"stored, and will be filed". ``inbound_file_queued`` files the stored messages afterwards,
in arrival order for each patient and filler order number (a correction never overtakes its
original), different patients in parallel on PostgreSQL (``INBOUND_FILERS``,
``rms.inbound.partition``); one that cannot be filed then is held with a work item for an
administrator, because its sender has been told it was accepted.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from rms import doorbell as doorbell_
from rms import services, signals
from rms.hl7 import (
    Hl7Error,
    build_ack,
    build_ack_for_unparseable,
    decode_message,
    parse,
)
from rms.hl7.encoding import codec_for_charset, declared_charset
from rms.hl7.errors import ErrorCode, Hl7UnsupportedError
from rms.hl7.extract import SUPPORTED_MESSAGES, require_supported
from rms.hl7.header import read_msh
from rms.hl7.parse import ParsedMessage
from rms.inbound import express, filing, partition, senders
from rms.inbound.senders import Origin, SenderRefused
from rms.models import InboundMessage, Patient
from rms.transactions import run_once_on_commit

logger = logging.getLogger("rms.inbound")
Status = InboundMessage.Status

# Trigger events we are sent but do not use: accepted and acknowledged, nothing filed. A PAS
# feed carries admissions, transfers and the like; refusing them would only raise alarms on
# the Trust's engine.
IGNORED_EVENTS = {"ADT", "SIU", "MDM"}


@dataclass(frozen=True)
class Header:
    """What MSH says, read from the raw bytes before anything else (MSH is ASCII)."""

    sending_application: str = ""
    sending_facility: str = ""
    control_id: str = ""
    message_type: str = ""


def read_header(raw: bytes) -> Header:
    """Best-effort MSH-3, MSH-4, MSH-10 and MSH-9 for storing and de-duplicating."""
    # The one MSH reader skips leading whitespace as decode_message does; otherwise a message
    # sent with a blank line first would be stored with no sender or control id, and not
    # de-duplicated.
    msh = read_msh(raw)
    if not msh.found:
        return Header()

    def printable(value: str) -> str:
        return value if value.isprintable() else ""

    # An empty MSH-2 (a broken message) must not make an empty separator.
    message_type = "^".join(msh.raw(9).split(msh.component or "^")[:2])
    return Header(
        sending_application=printable(msh.field(3))[:180],
        sending_facility=printable(msh.field(4))[:180],
        control_id=printable(msh.field(10, first_component=False))[:200],
        message_type=message_type[:20] if message_type.isprintable() else "",
    )


def _encode_ack(ack: str, raw: bytes) -> bytes:
    # Answer in the character set the sender declared, so MSA-3 reads back as written. An
    # MSH-18 that is not even ASCII has been refused already; its refusal must still be sent.
    try:
        codec = codec_for_charset(declared_charset(raw)) or "ascii"
    except Hl7Error:
        codec = "ascii"
    return ack.encode(codec, errors="replace")


def parse_and_check(raw: bytes) -> tuple[ParsedMessage, str]:
    """Decode and parse ``raw`` and check it is a message we file. Returns the message and,
    for a trigger event we accept but do not use, the note saying so (else ""). Raises
    ``Hl7Error`` for a message we refuse."""
    text = decode_message(raw)
    msg = parse(text)
    try:
        require_supported(msg)
    except Hl7UnsupportedError:
        if msg.message_type in IGNORED_EVENTS and msg.message_type in SUPPORTED_MESSAGES:
            return msg, f"{msg.message_type}^{msg.trigger_event} is not used by the RMS."
        raise
    if settings.INBOUND_STRICT_VALIDATION:
        from rms.hl7.strict import validate_strictly

        validate_strictly(text)
    return msg, ""


def _process(message: InboundMessage, *, actor: User, forced: Patient | None = None) -> None:
    """Decode, parse, match and file ``message``; set its status, error and ACK.
    Raises ``Hl7Error`` for a message we refuse, which the caller records."""
    msg, ignored = parse_and_check(message.raw_bytes)
    # Checked again with MSH-3/MSH-4 as parsed (``receive`` checked them as read from the raw
    # bytes, before storing), and on reprocessing with MLLP_SENDERS as it is now: a message
    # refused for where it came from is filed once its sender is allowed from there.
    senders.check_origin(msg.sending_application, msg.sending_facility, Origin.of(message))
    if ignored:
        message.status = Status.IGNORED
        message.error = ignored
        message.ack_code = "AA"
        message.ack = build_ack(msg, "AA", text=ignored)
        return

    family = msg.message_type
    try:
        if family == "ADT":
            outcome = filing.file_adt(msg, actor=actor, forced=forced)
        elif family == "ORU":
            outcome = filing.file_results(msg, actor=actor, message=message, forced=forced)
        elif family == "SIU":
            outcome = filing.file_appointment(msg, actor=actor, forced=forced)
        elif family == "MDM":
            outcome = filing.file_document(msg, actor=actor, forced=forced)
        else:  # require_supported let through a family we do not file: a bug, not input
            raise Hl7UnsupportedError(
                f"message type {family!r} is not filed",
                field="MSH-9",
                hl7_code=ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
            )
    except filing.WrongPatient as exc:
        outcome = filing.FilingOutcome(status=Status.REVIEW, note=f"Possible wrong patient: {exc}")
    except filing.OtherSender as exc:
        outcome = filing.FilingOutcome(
            status=Status.REVIEW,
            note=str(exc),
            sender_check=InboundMessage.SenderCheck.OTHER_SENDER,
        )

    message.status = outcome.status
    if outcome.sender_check:
        message.sender_check = outcome.sender_check
    message.patient = outcome.patient
    message.error = outcome.note
    message.ack_code = "AA"
    message.ack = build_ack(msg, "AA")
    if outcome.status in (Status.UNMATCHED, Status.REVIEW):
        signals.inbound_held.send(sender=InboundMessage, message=message, actor=actor)


_PROCESSED_FIELDS = [
    "attempts",
    "status",
    "patient",
    "error",
    "ack_code",
    "ack",
    "processed_at",
    "sender_check",
]


def _run(
    message: InboundMessage,
    *,
    actor: User,
    forced: Patient | None = None,
    acknowledged: bool = False,
) -> None:
    """Process inside a savepoint; on failure keep the row, refused, with the reason.

    ``acknowledged``: the sender was answered ``AA`` when the message was stored (storing
    mode). The answer sent stays on the row, and a message that cannot be filed is held for
    an administrator, since nobody else will hear of it."""
    sent = (message.ack_code, message.ack)
    message.attempts += 1
    try:
        with transaction.atomic():
            _process(message, actor=actor, forced=forced)
    except Hl7Error as exc:
        message.status = Status.ERROR
        if isinstance(exc, SenderRefused):
            message.sender_check = exc.check
        message.patient = None
        message.error = exc.reason
        message.ack_code = exc.ack_code
        message.ack = build_ack_for_unparseable(message.raw_bytes, exc.ack_code, exc.reason, exc)
    except (OperationalError, InterfaceError, IntegrityError) as exc:
        # The database failed (down, a deadlock, a lock timeout, a concurrent writer): not the
        # message's fault. No acknowledgement: the sender keeps the message and sends it again.
        # Filing a stored message, one filer at a time, a constraint the filing breaks is the
        # content's doing, not a race: held like any other failure rather than retried forever.
        if not (acknowledged and isinstance(exc, IntegrityError)):
            raise
        _refuse(message, exc)
    except Exception as exc:
        _refuse(message, exc)
    if acknowledged:
        message.ack_code, message.ack = sent
    message.processed_at = timezone.now()
    # Only what processing sets: the raw bytes are not sent to the database a second time.
    message.save(update_fields=_PROCESSED_FIELDS)
    if acknowledged and message.status == Status.ERROR:
        signals.inbound_held.send(sender=InboundMessage, message=message, actor=actor)
    if message.status == Status.PROCESSED and message.attempts > 1:
        # Filed on a later attempt (after an administrator's fix or match): whatever was
        # raised when it was held (a worklist item) can close. Sent after the save, in the
        # caller's transaction, so the close commits with the filing or not at all.
        signals.inbound_filed.send(sender=InboundMessage, message=message, actor=actor)


def _refuse(message: InboundMessage, exc: Exception) -> None:
    """A service refused the content (ValidationError) or a bug: the message is kept and
    the sender told; the reason names the error type, never patient data."""
    reason = refusal_reason(exc)
    logger.exception("Inbound message %s could not be filed", message.public_id)
    error = Hl7Error(reason, hl7_code=ErrorCode.APPLICATION_INTERNAL_ERROR, ack_code="AE")
    message.status = Status.ERROR
    message.patient = None
    message.error = reason
    message.ack_code = "AE"
    message.ack = build_ack_for_unparseable(message.raw_bytes, "AE", reason, error)


def refusal_reason(exc: Exception) -> str:
    from django.core.exceptions import ValidationError

    if isinstance(exc, ValidationError):
        if hasattr(exc, "message_dict"):
            return "; ".join(
                f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items()
            )
        return " ".join(exc.messages)
    return f"The message could not be filed ({type(exc).__name__}); it is kept for review."


def same_message(stored: bytes, incoming: bytes) -> bool:
    """Whether ``incoming`` is a resend of ``stored``: the same bytes, except that some
    engines stamp a new MSH-7 (message time) on each resend."""
    if stored == incoming:
        return True

    def without_msh7(raw: bytes) -> bytes:
        text = raw.lstrip()
        end = min((i for i in (text.find(b"\r"), text.find(b"\n")) if i >= 0), default=len(text))
        msh, rest = text[:end], text[end:]
        if len(msh) < 4:
            return text
        fields = msh.split(msh[3:4])
        if len(fields) > 6:
            fields[6] = b""
        return msh[3:4].join(fields) + rest

    return without_msh7(stored) == without_msh7(incoming)


def _refuse_reused_control_id(raw: bytes, header: Header, channel: str, peer: str) -> str:
    reason = (
        f"Control id {header.control_id[:40]} was already used by this sender for a different "
        "message; this one is refused. Send it with its own MSH-10."
    )
    error = Hl7Error(reason, hl7_code=ErrorCode.DUPLICATE_KEY_IDENTIFIER, ack_code="AE")
    ack = build_ack_for_unparseable(raw, "AE", reason, error)
    InboundMessage.objects.create(
        channel=channel,
        peer=peer[:100],
        raw=raw,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        control_id="",  # the real one is taken; it is in the raw message and the reason
        message_type=header.message_type,
        status=Status.ERROR,
        error=reason,
        ack_code="AE",
        ack=ack,
        processed_at=timezone.now(),
        attempts=1,
    )
    logger.warning(
        "Inbound control id reused for a different message by %s", header.sending_application[:40]
    )
    return ack


def _refuse_sender(
    raw: bytes, header: Header, channel: str, origin: Origin, refusal: SenderRefused
) -> str:
    """Keep a message refused because of where it came from, under no control id: the
    sender it claims to be must still be able to send its own message with that MSH-10."""
    ack = build_ack_for_unparseable(raw, refusal.ack_code, refusal.reason, refusal)
    InboundMessage.objects.create(
        channel=channel,
        peer=origin.address[:100],
        credential=origin.credential,
        raw=raw,
        sending_application=header.sending_application,
        sending_facility=header.sending_facility,
        control_id="",  # in the raw message
        message_type=header.message_type,
        status=Status.ERROR,
        error=refusal.reason,
        ack_code=refusal.ack_code,
        ack=ack,
        processed_at=timezone.now(),
        attempts=1,
        sender_check=refusal.check,
    )
    return ack


def receive(
    *,
    raw: bytes,
    channel: str,
    peer: str = "",
    actor: User | None = None,
    origin: Origin | None = None,
) -> bytes:
    """Store, process and acknowledge one message (see the module docstring). Returns the
    ACK bytes to send. Safe to repeat: a repeat gets the stored ACK back. ``actor`` is the
    system user when the caller has it already (the listener looks it up once). ``origin``
    is who sent it, checked against ``MLLP_SENDERS`` first (``rms.inbound.senders``); by
    default the address ``peer``."""
    header = read_header(raw)
    origin = origin if origin is not None else Origin(address=peer)
    try:
        senders.check_origin(header.sending_application, header.sending_facility, origin)
    except SenderRefused as refusal:
        # Refused before the de-duplication: a message claiming another sender's MSH-10 is
        # neither answered with that sender's acknowledgement nor allowed to take the id.
        with transaction.atomic():
            return _encode_ack(_refuse_sender(raw, header, channel, origin, refusal), raw)
    stored: dict[str, Any] = {
        "channel": channel,
        "peer": peer[:100],
        "credential": origin.credential,
        "raw": raw,
        "sending_application": header.sending_application,
        "sending_facility": header.sending_facility,
        "control_id": header.control_id,
        "message_type": header.message_type,
    }
    if header.control_id and header.message_type.startswith("ORU") and express.enabled():
        ack = _file_express(raw, origin, stored)
        if ack is not None:
            return _encode_ack(ack, raw)
    # Only the general path needs the system user (one query, when the caller has not
    # looked it up): the express path writes no actor.
    actor = actor or services.system_user()
    for _ in range(2):
        try:
            with transaction.atomic():
                message = None
                fresh = False
                if header.control_id and _one_statement_store():
                    candidate = InboundMessage(**stored)
                    if _insert_unless_stored(candidate):
                        message, fresh = candidate, True
                if header.control_id and not fresh:
                    message = (
                        InboundMessage.objects.select_for_update()
                        .filter(
                            sending_application=header.sending_application,
                            sending_facility=header.sending_facility,
                            control_id=header.control_id,
                        )
                        .first()
                    )
                if message is not None and not fresh and not same_message(message.raw_bytes, raw):
                    # The sender used this control id for a different message: refuse this one
                    # (keeping it, under no control id) rather than answer with the old ACK and
                    # lose it. The sender's engine must give each message its own MSH-10.
                    return _encode_ack(_refuse_reused_control_id(raw, header, channel, peer), raw)
                if (
                    message is not None
                    and not fresh
                    and (message.status != Status.RECEIVED or message.ack)
                ):
                    # Processed, or stored and acknowledged (storing mode) and not yet filed.
                    logger.info("Repeat of inbound message %s answered again", message.public_id)
                    return _encode_ack(message.ack, raw)
                storing = message is None and settings.INBOUND_ACK_AFTER == "storing"
                if message is None:
                    message = InboundMessage.objects.create(
                        **stored, **(_accepted_fields(raw) if storing else {})
                    )
                if not storing:
                    _run(message, actor=actor)
                elif message.status == Status.RECEIVED:
                    _ring_filer_on_commit()
                ack = message.ack
        except IntegrityError:
            # Another connection stored the same message a moment ago: read theirs.
            continue
        return _encode_ack(ack, raw)
    raise RuntimeError("The same message was stored concurrently twice; the sender will retry.")


def _file_express(raw: bytes, origin: Origin, stored: dict[str, Any]) -> str | None:
    """The common case, new results for a known patient, in two statements
    (``rms.inbound.express``); ``None`` when the message is not that case, nothing written."""
    try:
        msg, ignored = parse_and_check(raw)
        senders.check_origin(msg.sending_application, msg.sending_facility, origin)
    except Hl7Error:
        return None  # refused by the general path, with the row kept
    if ignored or msg.message_type != "ORU":
        return None
    return express.file_new_results(msg, stored=stored)


def _one_statement_store() -> bool:
    # Filing mode on PostgreSQL. Storing mode sets the processing fields before its insert,
    # and keeps its own path (its filer's order depends on it).
    return connection.vendor == "postgresql" and settings.INBOUND_ACK_AFTER != "storing"


def _insert_unless_stored(message: InboundMessage) -> bool:
    """Insert ``message`` (new, unsaved, with a control id) unless its sender's control id is
    stored already: the de-duplication's lookup and the new message's insert in one statement
    (PostgreSQL). False, with nothing written, when one is stored (committed, or waited for
    until its transaction ends); the caller then reads and locks it as before."""
    meta = InboundMessage._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(message, True), connection) for f in fields]
    quote = connection.ops.quote_name
    # Table and column names come from the model, the values are parameters. The conflict
    # target is inbound_once_per_sender_and_control_id (a partial index).
    table = quote(meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        "ON CONFLICT (sending_application, sending_facility, control_id) "
        "WHERE NOT (control_id = '') DO NOTHING RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    message.pk = row[0]
    message._state.adding = False
    message._state.db = connection.alias
    return True


def _accepted_fields(raw: bytes) -> dict[str, Any]:
    """Storing mode: the row's processing fields, set before the one insert that stores it.
    A message we will never file is refused now, as in filing mode; an event we do not use
    is accepted and done; anything else is acknowledged and left ``received`` for the
    filer."""
    try:
        msg, ignored = parse_and_check(raw)
        if not ignored:
            filing.check_content(msg)
    except Hl7Error as exc:
        ack = build_ack_for_unparseable(raw, exc.ack_code, exc.reason, exc)
        return {
            **({"sender_check": exc.check} if isinstance(exc, SenderRefused) else {}),
            "status": Status.ERROR,
            "error": exc.reason,
            "ack_code": exc.ack_code,
            "ack": ack,
            "processed_at": timezone.now(),
            "attempts": 1,
        }
    if ignored:
        return {
            "status": Status.IGNORED,
            "error": ignored,
            "ack_code": "AA",
            "ack": build_ack(msg, "AA", text=ignored),
            "processed_at": timezone.now(),
            "attempts": 1,
        }
    return {
        "status": Status.RECEIVED,
        "ack_code": "AA",
        "ack": build_ack(msg, "AA"),
        "filing_keys": partition.keys_text(partition.filing_keys(msg)),
    }


def _send_ring() -> None:
    from rms.tasks import inbound_file

    # One task a filer: each files the patients it can lock (on SQLite one files, the others
    # return at once).
    for _ in range(settings.INBOUND_FILERS):
        inbound_file.delay()


class Doorbell(doorbell_.Doorbell):
    """The filer's doorbell (``rms.doorbell``): rung once the stored message commits."""

    def __init__(self, interval: float = 0.05) -> None:
        super().__init__(lambda: _send_ring(), what="inbound filer", interval=interval)


doorbell = Doorbell()


def _ring_filer() -> None:
    doorbell.ring()


def _ring_filer_on_commit() -> None:
    """Ring the filer's doorbell once the stored message commits (once per transaction). A
    lost ring (Redis down, a crash) is made good by beat's sweep: the message is the record."""
    run_once_on_commit("rms.inbound.filer", _ring_filer)


# Stored, acknowledged and not yet filed (storing mode). A row left ``received`` without an
# acknowledgement is one whose transaction never committed in filing mode: not queued.
QUEUED = {"status": Status.RECEIVED, "ack_code": "AA"}
# On SQLite one filer at a time across the threads of one process (the database has no
# advisory locks, and one process is all it serves). On PostgreSQL filers run in parallel,
# each message waiting for the earlier ones that share a filing key (rms.inbound.partition).
_filer_thread_lock = threading.Lock()
# How far past the oldest stored message a filer looks for ones it may file, in batches.
_WINDOW_BATCHES = 4
# A filer that found everything taken by others looks again this often before it leaves
# the rest to them (they look again after each batch) and to beat's sweep.
_BLOCKED_RETRIES = 3
_BLOCKED_PAUSE_S = 0.02


def _keys_taken(keys: list[str], held: set[str]) -> bool:
    """Take the transaction-scoped advisory locks of ``keys`` not yet ``held``, without
    waiting; True when every one is now held. Locks taken stay taken until the transaction
    ends, whatever the answer (a filer holding a key only ever delays another's message)."""
    wanted = [key for key in keys if key not in held]
    if not wanted:
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(%s, h) "
            "FROM unnest(%s::int[]) WITH ORDINALITY AS k(h, n) ORDER BY n",
            [partition.LOCK_CLASS, [partition.lock_id(key) for key in wanted]],
        )
        taken = [bool(row[0]) for row in cursor.fetchall()]
    held.update(key for key, ok in zip(wanted, taken, strict=True) if ok)
    return all(taken)


def _stored_keys(pk: int, text: str) -> list[str]:
    """A row's filing keys; read from the message for a row stored before they were kept."""
    if text:
        return partition.keys_from_text(text)
    raw = InboundMessage.objects.filter(pk=pk).values_list("raw", flat=True).first()
    try:
        msg, _ = parse_and_check(bytes(raw or b""))
    except Hl7Error:
        return [partition.UNKEYED]
    return partition.filing_keys(msg)


def _file_batch(actor: User, batch: int) -> int | None:
    """File up to ``batch`` stored messages in one transaction (each in a savepoint of its
    own), in arrival order within each filing key. None when there were messages to file
    and another filer held every one of them.

    The filer reads the oldest stored messages (a window of a few batches) and walks them
    in arrival order. A message is filed when none of its keys belongs to an earlier message
    of the window it did not file, and it can take every key's advisory lock (no other
    filer is filing that patient); its row is then locked and checked still to be waiting
    (another filer may have filed it since the window was read). A message it passes over
    blocks its keys for the rest of the walk, so nothing overtakes it."""
    with transaction.atomic():
        if connection.vendor != "postgresql":
            messages = list(
                InboundMessage.objects.select_for_update()
                .filter(**QUEUED)
                .order_by("received_at", "pk")[:batch]
            )
            for message in messages:
                _run(message, actor=actor, acknowledged=True)
            return len(messages)
        window = list(
            InboundMessage.objects.filter(**QUEUED)
            .order_by("received_at", "pk")
            .values_list("pk", "filing_keys")[: batch * _WINDOW_BATCHES]
        )
        held: set[str] = set()
        blocked: set[str] = set()
        filed = 0
        passed_over = False
        for pk, text in window:
            keys = _stored_keys(pk, text)
            if blocked.intersection(keys) or not _keys_taken(keys, held):
                blocked.update(keys)
                passed_over = True
                continue
            waiting = InboundMessage.objects.select_for_update().filter(pk=pk, **QUEUED).first()
            if waiting is None:
                continue  # filed by another filer since the window was read
            _run(waiting, actor=actor, acknowledged=True)
            filed += 1
            if filed >= batch:
                break
        return None if filed == 0 and passed_over else filed


def inbound_file_queued(*, actor: User | None = None, batch: int = 50) -> int:
    """File every message acknowledged on storing and not yet filed, in arrival order per
    filing key; returns how many this call filed. Safe to run in many workers at once: on
    PostgreSQL they file different patients in parallel (``_file_batch``), and each looks
    again after a batch, so a message stored meanwhile is filed too. A filer that finds
    every waiting message taken by others leaves them to those (they look again after each
    batch). A database failure raises with the batch rolled back: nothing is lost, the next
    ring or sweep files it."""
    actor = actor or services.system_user()
    filed = 0
    blocked = 0
    while True:
        if connection.vendor == "postgresql":
            done = _file_batch(actor, batch)
        else:
            if not _filer_thread_lock.acquire(blocking=False):
                return filed  # another thread of this process is filing, and will look again
            try:
                done = _file_batch(actor, batch)
            finally:
                _filer_thread_lock.release()
        if done is None:
            blocked += 1
            if blocked > _BLOCKED_RETRIES:
                return filed
            time.sleep(_BLOCKED_PAUSE_S)
            continue
        blocked = 0
        filed += done
        if done == 0 and not InboundMessage.objects.filter(**QUEUED).exists():
            return filed


@transaction.atomic
def inbound_reprocess(
    *, message: InboundMessage, actor: User, patient: Patient | None = None
) -> InboundMessage:
    """Process a held or refused message again (after a fix), optionally matched by hand to
    ``patient``. Its acknowledgement has long been sent; this files it now. Safe to repeat:
    a message already processed is left alone."""
    message = InboundMessage.objects.select_for_update().get(pk=message.pk)
    if message.status in (Status.PROCESSED, Status.IGNORED):
        return message
    _run(message, actor=actor, forced=patient)
    return message
