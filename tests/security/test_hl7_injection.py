"""HL7 delimiter injection (reliability-and-security E1, E2, E7): free text from the record
reaches PKB escaped, the message keeps its shape, and the receiver reads the text back.

End to end from the record: a patient whose names, address, diagnosis, observation, report,
document and appointment carry delimiters, line breaks and a fake PID segment is shared with
PKB; every outbox message is read back with the ``hl7`` library (an independent parser) and
compared with the same record holding plain text.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import hl7
import pytest
from django.utils import timezone

from pkb_bridge import services
from pkb_bridge.models import OutboundMessage, ReleasePolicy
from rms.models import Observation, Patient, Result, Role
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    TeamFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

# Every delimiter, the escape character, each kind of line break, and a fake segment.
HOSTILE = "O|Brien^Jr & Co~x\\y\r\nPID|1||9999999999^^^NHS^NH\rz\nend"
# The same line breaks without delimiters: a report is sent a line per OBX, so the baseline
# needs as many lines for the shapes to compare.
PLAIN = "Obrien Jr and Co x y\r\nPID 1\rz\nend"


def _normalised(text: str) -> str:
    # A line break of any kind travels as \.br\, which the receiver reads as one CR.
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _record(text: str, nhs_number: str) -> Patient:
    """A patient with ``text`` in every free-text field that reaches PKB."""
    team = TeamFactory(code="URO")
    patient: Patient = PatientFactory(
        nhs_number=nhs_number,
        title="Mr",
        given_name=text,
        family_name=text,
        address_line_1=text,
        address_city=text,
        teams=[team],
    )
    DiagnosisFactory(patient=patient, text=text)
    lab = ResultFactory(patient=patient, ordering_clinician=text)
    ObservationFactory(result=lab, notes=text)
    ObservationFactory(
        result=lab,
        code="COMMENT",
        name="Comment",
        value_type=Observation.ValueType.TEXT,
        value_text=text,
        value_numeric=None,
        units="",
        reference_range="",
    )
    ResultFactory(
        patient=patient,
        category=Result.Category.RADIOLOGY,
        service_code="MRPROS",
        service_name="MRI prostate",
        report_text=f"Findings: {text}",
    )
    DocumentFactory(patient=patient, title=text, author=text)
    AppointmentFactory(
        patient=patient,
        starts_at=timezone.now() + dt.timedelta(days=14),
        reason=text,
        location=text,
        clinician=text,
    )
    return patient


def _shared(patient: Patient) -> list[OutboundMessage]:
    user = UserFactory(username=f"cns{patient.pk}")
    team = patient.caseload_entries.get().team
    MembershipFactory(user=user, team=team, role=Role.CLINICIAN)
    # Radiology is held for a clinician by default: this team releases it at once, so that
    # every kind of message is built.
    ReleasePolicy.objects.get_or_create(
        team=team, category="radiology", defaults={"mode": "immediate"}
    )
    services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=user
    )
    return list(OutboundMessage.objects.filter(patient=patient).order_by("seq"))


def _shape(payload: str) -> list[tuple[str, int]]:
    """Each segment's name and number of fields, as an independent parser reads them."""
    message = hl7.parse(payload.replace("\n", "\r"))
    return [(str(segment[0]), len(segment)) for segment in message]


def _leaves(payload: str) -> list[str]:
    """Every field, component and subcomponent value, unescaped."""
    message = hl7.parse(payload)
    values: list[str] = []
    for segment in message:
        for field in segment[1:]:
            text = str(field)
            values.append(message.unescape(text))
            for repetition in text.split("~"):
                for component in repetition.split("^"):
                    values.append(message.unescape(component))
                    values.extend(message.unescape(sub) for sub in component.split("&"))
    return values


@pytest.fixture
def messages() -> tuple[list[OutboundMessage], list[OutboundMessage]]:
    plain = _shared(_record(PLAIN, "9990000018"))
    hostile = _shared(_record(HOSTILE, "9434765919"))
    return plain, hostile


def test_the_hostile_record_sends_the_same_messages_with_the_same_shape(messages) -> None:  # type: ignore[no-untyped-def]
    plain, hostile = messages
    assert [m.kind for m in hostile] == [m.kind for m in plain]
    assert len(hostile) >= 5  # registration, lab, radiology, document, appointment
    for sent, baseline in zip(hostile, plain, strict=True):
        # Same segments, same number of fields in each: nothing spilled or split.
        assert _shape(sent.payload) == _shape(baseline.payload), sent.kind
        assert [name for name, _ in _shape(sent.payload)].count("PID") == 1


def test_every_delimiter_and_line_break_is_escaped(messages) -> None:  # type: ignore[no-untyped-def]
    _, hostile = messages
    for sent in hostile:
        payload = sent.payload
        assert "\n" not in payload, sent.kind
        body = payload[payload.index("\r") :]  # after MSH, whose MSH-2 holds the delimiters
        assert "\\.br\\" in body, sent.kind
        for escaped in ("\\F\\", "\\S\\", "\\T\\", "\\R\\", "\\E\\"):
            assert escaped in body, (sent.kind, escaped)
        assert "\rPID|1||9999999999" not in payload


def test_the_text_reads_back_exactly_at_the_receiver(messages) -> None:  # type: ignore[no-untyped-def]
    _, hostile = messages
    expected = _normalised(HOSTILE)
    for sent in hostile:
        leaves = [_normalised(value) for value in _leaves(sent.payload)]
        joined = "\n".join(leaves)
        # The text arrives whole in one value (or, for a report split into lines, in order).
        assert expected in leaves or expected in joined, sent.kind


def test_the_patient_identifiers_are_untouched(messages) -> None:  # type: ignore[no-untyped-def]
    _, hostile = messages
    for sent in hostile:
        pid = hl7.parse(sent.payload).segment("PID")
        assert str(pid[3]).startswith("9434765919^"), sent.kind
        assert sent.expected_nhs_number == "9434765919"


def test_a_numeric_observation_value_is_not_changed() -> None:
    patient = PatientFactory(teams=[TeamFactory(code="URO")])
    result = ResultFactory(patient=patient)
    ObservationFactory(result=result, value_text="<0.05", value_numeric=Decimal("0.05"))
    sent = _shared(patient)
    assert any("<0.05" in m.payload for m in sent)
