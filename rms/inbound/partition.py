"""What a stored message must be filed in order with: its filing keys.

With ``INBOUND_ACK_AFTER=storing`` the filer files stored messages afterwards, and with
``INBOUND_FILERS`` above one, several at once. Order matters only between messages about the
same thing: a patient's demographics and results, a result and its correction or deletion,
an appointment and its cancellation, a document and its replacement. So a message carries
keys naming those things, and two messages sharing a key are filed in arrival order, never
at the same time; messages sharing none are filed in parallel.

The keys are read from the message as sent, before any matching (which needs the database):

- every patient identifier in PID-3 and PID-2 (NHS number, MRN, any other), by value: a
  lab that names the patient by MRN in one message and by NHS number and MRN in the next
  is ordered through the MRN. Two messages naming one patient by disjoint identifiers
  (NHS number only, then MRN only) share no key: hazard H25 in the hazard log;
- every filler order number (OBR-3, else ORC-3) of a result message: a correction sent with
  another patient's identifiers (a wrong-patient correction) still waits for its original;
- the appointment's placer id (SCH-1, else SCH-2) and the document number (TXA-12).

A message with none of these (it names no one: it will be held as unmatched) gets one key
shared by all such messages.

Keys are stored on the row (``InboundMessage.filing_keys``, one a line) when the message is
stored, and hashed to 32 bits for PostgreSQL's advisory locks; a collision only orders two
unrelated messages, it never reorders related ones.
"""

from __future__ import annotations

import hashlib

from rms.hl7 import Hl7Error
from rms.hl7.extract import extract_appointment, extract_document, extract_patient, extract_results
from rms.hl7.parse import ParsedMessage

UNKEYED = "none"
# The first half of every filing key's advisory lock ("RMSF"); the second is the key's hash.
LOCK_CLASS = 0x524D5346


def filing_keys(msg: ParsedMessage) -> list[str]:
    """The keys ``msg`` is filed in order with, sorted and without repeats."""
    keys: set[str] = set()
    try:
        patient = extract_patient(msg)
    except Hl7Error:
        patient = None
    if patient is not None:
        keys.update(f"id:{_normal(i.value)}" for i in patient.identifiers if _normal(i.value))
    try:
        if msg.message_type == "ORU":
            for group in extract_results(msg):
                if group.filler_order_number.strip():
                    keys.add(f"order:{_normal(group.filler_order_number)}")
        elif msg.message_type == "SIU":
            placer = extract_appointment(msg).placer_id
            if placer.strip():
                keys.add(f"appointment:{_normal(placer)}")
        elif msg.message_type == "MDM":
            number = extract_document(msg).document_number
            if number.strip():
                keys.add(f"document:{_normal(number)}")
    except Hl7Error:
        pass  # filing refuses it; its patient keys still order it
    return sorted(keys) or [UNKEYED]


def keys_text(keys: list[str]) -> str:
    return "\n".join(keys)


def keys_from_text(text: str) -> list[str]:
    return [key for key in text.split("\n") if key]


def lock_id(key: str) -> int:
    """The key's advisory lock id: a signed 32-bit hash (PostgreSQL's ``int4``)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big", signed=True)


def _normal(value: str) -> str:
    return "".join(value.split()).upper()
