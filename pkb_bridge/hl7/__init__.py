"""HL7 v2.4 for Patients Know Best: pure builders, ACK and SOAP handling, pre-send checks.

Plain data in (``data``), ER7 text out (``build``), no ORM and no Django. The outbox maps rows
onto the dataclasses, builds, checks the PID (``verify``), wraps (``soap``), sends, and reads
the answer (``soap.parse_envelope_response`` then ``ack.parse_ack``).
"""

from __future__ import annotations

from pkb_bridge.hl7 import profile
from pkb_bridge.hl7.ack import Ack, parse_ack
from pkb_bridge.hl7.build import (
    LabPack,
    build_adt,
    build_care_plan,
    build_mdm,
    build_mdm_delete,
    build_oru_lab,
    build_oru_lab_pack,
    build_oru_radiology,
    build_siu,
    pack_lab_groups,
    pack_lab_reports,
)
from pkb_bridge.hl7.data import (
    Appointment,
    CarePlan,
    Diagnosis,
    Document,
    LabObservation,
    LabReport,
    MessageContext,
    Patient,
    PersonName,
    RadiologyReport,
)
from pkb_bridge.hl7.escape import hl7_text
from pkb_bridge.hl7.soap import (
    SoapError,
    build_envelope,
    parse_envelope_request,
    parse_envelope_response,
)
from pkb_bridge.hl7.verify import MessageCheckError, pid3_identifiers, segment_counts

__all__ = [
    "Ack",
    "Appointment",
    "CarePlan",
    "Diagnosis",
    "Document",
    "LabObservation",
    "LabPack",
    "LabReport",
    "MessageCheckError",
    "MessageContext",
    "Patient",
    "PersonName",
    "RadiologyReport",
    "SoapError",
    "build_adt",
    "build_care_plan",
    "build_envelope",
    "build_mdm",
    "build_mdm_delete",
    "build_oru_lab",
    "build_oru_lab_pack",
    "build_oru_radiology",
    "build_siu",
    "hl7_text",
    "pack_lab_groups",
    "pack_lab_reports",
    "parse_ack",
    "parse_envelope_request",
    "parse_envelope_response",
    "pid3_identifiers",
    "profile",
    "segment_counts",
]
