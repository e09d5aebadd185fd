"""What reaches the patient in PKB: results filed through the inbound path (or a clinician's
action), delivered by the outbox to the PKB sandbox over real HTTP, and read there by a second
parser (hl7apy, v2.4 structures) and by the sandbox's record of the patient.

Each test cites the section of PKB's interface (../shared/reference/pkb-hl7-interface.md) its
expected outcome comes from.
"""

from __future__ import annotations

import datetime as dt
import http.server
import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.sandbox import SandboxServer
from devtools.sandbox.server import soap_response
from pkb_bridge import compose, services
from pkb_bridge.hl7 import LabObservation, LabReport, MessageContext, build_oru_lab
from pkb_bridge.models import DeliveryAttempt, OutboundMessage, ReleasePolicy
from pkb_bridge.transport import PkbTransport
from rms import services as rms_services
from rms.hl7.delimiters import DEFAULT_DELIMITERS
from rms.hl7.escape import escape
from rms.inbound import receive
from rms.models import Document, Patient
from tests.factories import DocumentFactory, PatientFactory
from tests.pkb_bridge.hl7.support import hl7apy_parse

pytestmark = pytest.mark.django_db

_fon = itertools.count(1)
_control = itertools.count(1)


def drain(transport: PkbTransport) -> None:
    for _ in range(10):
        if not services.dispatch(transport=transport, budget_s=10):
            break


def arrived(sandbox: SandboxServer, nhs_number: str, kind: str = "") -> list[str]:
    """The messages PKB's sandbox received for a patient, as received, in order."""
    return [
        entry["raw"]
        for entry in sandbox.state.snapshot()["messages"]
        if entry["nhs_number"] == nhs_number and entry["raw"].split("|")[8].startswith(kind)
    ]


def obxs(message: str) -> list[Any]:
    """Every OBX of an ORU^R01 as hl7apy reads it (v2.4 ORU_R01)."""
    parsed = hl7apy_parse(message)
    return [
        observation.obx
        for order in parsed.oru_r01_patient_result.oru_r01_order_observation
        for observation in order.oru_r01_observation
    ]


def shared(team: Any, clinician: Any, transport: PkbTransport, **fields: Any) -> Patient:
    """A patient of ``team`` shared with PKB, the registration delivered."""
    patient: Patient = PatientFactory(teams=[team], **fields)
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport)
    return patient


def pid(patient: Patient) -> str:
    born = patient.date_of_birth.strftime("%Y%m%d") if patient.date_of_birth else ""
    name = escape(patient.family_name, DEFAULT_DELIMITERS)
    given = escape(patient.given_name, DEFAULT_DELIMITERS)
    return f"PID|1||{patient.nhs_number}^^^NHS^NH||{name}^{given}||{born}|{patient.sex}"


def oru(patient: Patient, fon: str, *obx: str, status: str = "F") -> bytes:
    """An ORU^R01 from the lab, as the inbound listener receives it."""
    segments = [
        f"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|20261110141502||ORU^R01^ORU_R01|LAB{next(_control)}|P|2.4",
        pid(patient),
        f"ORC|RE||{fon}",
        f"OBR|1||{fon}|TM^Tumour markers^WINPATH|||20261110083000+0000"
        f"|||||||||||||||20261110141500+0000||CH|{status}",
        *obx,
    ]
    return ("\r".join(segments) + "\r").encode()


def file(raw: bytes) -> None:
    ack = receive(raw=raw, channel="mllp", peer="10.0.0.1").decode("latin-1")
    assert "MSA|AA|" in ack, ack


def obx(number: int, code: str, value: str, status: str, value_type: str = "NM") -> str:
    return (
        f"OBX|{number}|{value_type}|{code}^{code}^WINPATH||{value}|ug/L|0-5|N|||{status}"
        "|||20261110083000+0000"
    )


# --- 1. withdrawn observations ---------------------------------------------------------------


def test_observations_the_lab_withdrew_are_never_sent(team, clinician, sandbox, transport):
    """Section 9.2: PKB shows values and does not use OBX-11 to show corrections, so an
    observation marked wrong (W), deleted (D) or not obtainable (X) must not be sent at all."""
    patient = shared(team, clinician, transport)
    fon = f"26L{next(_fon):07d}"
    file(
        oru(
            patient,
            fon,
            obx(1, "PSA", "0.24", "F"),
            obx(2, "CEA", "9.91", "W"),
            obx(3, "CA125", "9.92", "D"),
            obx(4, "AFP", "9.93", "X"),
        )
    )
    drain(transport)
    (message,) = arrived(sandbox, patient.nhs_number, "ORU")
    values = [(o.obx_3.ce_1.to_er7(), o.obx_5.to_er7()) for o in obxs(message)]
    assert values == [("PSA", "0.24")]
    assert "9.9" not in message


def test_a_value_withdrawn_after_it_was_published_is_deleted_and_the_rest_sent_again(
    team, clinician, sandbox, transport
):
    """Section 9.2: a result left out of a later message is not deleted in PKB, and OBR-25 R
    deletes every result of the filler order number. So a value the lab withdraws (OBX-11 W)
    after PKB has it is removed by deleting the report and sending it again without it."""
    patient = shared(team, clinician, transport)
    fon = f"26L{next(_fon):07d}"
    file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), obx(2, "CEA", "9.91", "F")))
    drain(transport)
    file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), obx(2, "CEA", "9.91", "W"), status="C"))
    drain(transport)
    first, deletion, resent = arrived(sandbox, patient.nhs_number, "ORU")
    assert "9.91" in first
    deleted = hl7apy_parse(deletion).oru_r01_patient_result.oru_r01_order_observation[0]
    assert (deleted.obr.obr_3.to_er7(), deleted.obr.obr_25.to_er7()) == (fon, "R")
    assert obxs(deletion) == []
    assert [(o.obx_3.ce_1.to_er7(), o.obx_5.to_er7()) for o in obxs(resent)] == [("PSA", "0.24")]
    assert "9.91" not in deletion + resent
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None
    cea = [item for key, item in seen["lab_results"][fon].items() if key.startswith("CEA")]
    assert cea and all(item.get("deleted") for item in cea)


def test_a_report_withdrawn_before_sharing_is_not_in_the_historic_upload(
    team, clinician, sandbox, transport
):
    """Section 9.2: nothing withdrawn is published, the historic upload included."""
    patient: Patient = PatientFactory(teams=[team])
    fon = f"26L{next(_fon):07d}"
    file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), obx(2, "CEA", "9.91", "W")))
    file(oru(patient, f"{fon}B", obx(1, "CEA", "9.94", "D")))
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport)
    messages = arrived(sandbox, patient.nhs_number, "ORU")
    assert [o.obx_5.to_er7() for message in messages for o in obxs(message)] == ["0.24"]
    assert not any("9.9" in message for message in messages)


# Every OBX-11 code of HL7 table 0085, in either case, and none.
STATUSES = st.sampled_from(["", *"CDFINOPRSUWX", *"cdfinoprsuwx"])
VALUES = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="\\"),
    min_size=3,
    max_size=12,
).map(lambda text: "Q" + text)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(status=STATUSES, value=VALUES, corrected=st.booleans())
def test_nothing_withdrawn_is_ever_in_a_delivered_message(
    team, clinician, sandbox, transport, status: str, value: str, corrected: bool
):
    """Section 9.2, for any observation status and value: a withdrawn observation (W, D, X)
    never reaches PKB, whether it arrives withdrawn or is withdrawn in a correction; any other
    status is sent with its value."""
    patient = shared(team, clinician, transport)
    fon = f"26P{next(_fon):07d}"
    text = escape(value, DEFAULT_DELIMITERS)
    if corrected:
        file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), obx(2, "NOTE", text, "F", "ST")))
        drain(transport)
        before = len(arrived(sandbox, patient.nhs_number, "ORU"))
    else:
        before = 0
    file(
        oru(
            patient,
            fon,
            obx(1, "PSA", "0.24", "F"),
            obx(2, "NOTE", text, status, "ST"),
            status="C" if corrected else "F",
        )
    )
    drain(transport)
    assert not OutboundMessage.objects.filter(patient=patient, status="pending").exists()
    later = arrived(sandbox, patient.nhs_number, "ORU")[before:]
    sent = [o.obx_5.to_er7() for message in later for o in obxs(message)]
    if status.upper() in ("W", "D", "X"):
        assert text not in sent
        assert not any(f"|{text}|" in message for message in later)
    else:
        assert text in sent


# --- 2. the delay on every OBX ---------------------------------------------------------------


@pytest.mark.parametrize("delay_field", ["OBX-13", "OBR-13"])
def test_every_result_of_a_delayed_report_carries_the_delay(
    team, clinician, sandbox, transport, settings, delay_field
):
    """Section 8: PKB hides a result's content for OBX-13.1 days; a discrete report (9.2) is one
    result per OBX, so each carries it, the abnormal one last included. OBR-13 [UNVERIFIED]
    carries it as well where the setting says so."""
    settings.PKB_DELAY_FIELD = delay_field
    ReleasePolicy.objects.create(
        team=team, category=ReleasePolicy.Category.LAB, mode="delay", delay_days=7
    )
    patient = shared(team, clinician, transport)
    fon = f"26L{next(_fon):07d}"
    abnormal = obx(3, "CA125", "412", "F").replace("|N|||", "|HH|||")
    file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), obx(2, "CEA", "3.1", "F"), abnormal))
    drain(transport)
    (message,) = arrived(sandbox, patient.nhs_number, "ORU")
    observations = obxs(message)
    assert [o.obx_13.to_er7() for o in observations] != []
    # The delay counts from the clinical time (OBX-14), so it is the policy's days or more.
    delays = {o.obx_13.to_er7() for o in observations}
    assert len(delays) == 1 and int(delays.pop()) >= 7
    order = hl7apy_parse(message).oru_r01_patient_result.oru_r01_order_observation[0]
    expected_obr_13 = observations[0].obx_13.to_er7() if delay_field == "OBR-13" else ""
    assert order.obr.obr_13.to_er7() == expected_obr_13


# --- 3. multi-line text ----------------------------------------------------------------------


def test_a_multi_line_text_result_is_sent_as_formatted_text(team, clinician, sandbox, transport):
    """HL7 v2.4 2.7: ``\\.br\\`` is a formatting command of FT only; in a TX value PKB shows it
    literally. A multi-line value goes as FT."""
    patient = shared(team, clinician, transport)
    fon = f"26L{next(_fon):07d}"
    # The lab's FT comment is filed as two-line text; what goes out must keep it two lines.
    comment = "OBX|2|FT|COM^Comment^WINPATH||Haemolysed.\\.br\\Please repeat.||||||F|||"
    file(oru(patient, fon, obx(1, "PSA", "0.24", "F"), comment + "20261110083000+0000"))
    drain(transport)
    (message,) = arrived(sandbox, patient.nhs_number, "ORU")
    first, second = obxs(message)
    assert first.obx_2.to_er7() == "NM"
    assert second.obx_2.to_er7() == "FT"
    # As received (hl7apy writes a backslash of an FT value back as \E\ in to_er7).
    assert "|FT|COM^Comment^WINPATH||Haemolysed.\\.br\\Please repeat.|" in message


# --- 4. a deleted care plan ------------------------------------------------------------------


def test_a_deleted_care_plan_is_replaced_by_a_withdrawal_not_sent_as_mdm_t11(
    team, clinician, sandbox, transport
):
    """Sections 2 and 9.5 [S31-S33]: MDM^T11 does not apply to care plans and a care plan cannot
    be deleted; re-sending its TXA-12 replaces it. The plan is replaced by a version that says
    it was withdrawn."""
    patient: Patient = PatientFactory(teams=[team])
    plan: Document = DocumentFactory(
        patient=patient,
        document_type=Document.DocumentType.CARE_PLAN,
        title="After your operation",
        content_html="<p>Pelvic floor exercises three times a day.</p>",
    )
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport)
    rms_services.document_delete(document=plan, actor=clinician)
    drain(transport)
    assert arrived(sandbox, patient.nhs_number, "MDM^T11") == []
    original, withdrawal = arrived(sandbox, patient.nhs_number, "MDM^T02")
    parsed = hl7apy_parse(withdrawal)
    assert parsed.txa.txa_2.to_er7() == "CP"
    assert parsed.txa.txa_12.to_er7() == hl7apy_parse(original).txa.txa_12.to_er7()
    seen = sandbox.state.patient(patient.nhs_number)
    assert seen is not None
    (versions,) = (entry["versions"] for entry in seen["care_plans"].values())
    assert "withdrawn" in versions[-1]["text"]
    assert "Pelvic floor" not in versions[-1]["text"]
    assert not OutboundMessage.objects.filter(patient=patient).exclude(status="delivered")


# --- 10. smaller ------------------------------------------------------------------------------


def test_aip_4_is_the_role_the_appointment_came_with(team, clinician, sandbox, transport):
    """Appendix A3: AIP-4.2 is the clinician's role; a nurse's clinic is not a doctor's."""
    patient = shared(team, clinician, transport)
    siu = "\r".join(
        [
            "MSH|^~\\&|PAS|RXX01|RMS|RXX|20261110141502||SIU^S12^SIU_S12|APT1|P|2.4",
            "SCH|APT-0001||||||^Follow-up^|FU|||^^^20261201093000+0000^20261201094500+0000",
            pid(patient),
            "RGS|1",
            "AIP|1||^Brown^Alice^^^Sister|^Nurse",
        ]
    )
    file((siu + "\r").encode())
    drain(transport)
    (message,) = arrived(sandbox, patient.nhs_number, "SIU")
    aip = hl7apy_parse(message).siu_s12_resources.siu_s12_personnel_resource.aip
    assert aip.aip_4.to_er7() == "^Nurse"


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        ("XTN-1", "pat@example.org^NET"),
        ("XTN-4", "^NET^^pat@example.org"),
        ("both", "pat@example.org^NET^^pat@example.org"),
    ],
)
def test_the_email_goes_in_the_component_the_setting_names(
    team, clinician, sandbox, transport, settings, component, expected
):
    """Section 6 [UNVERIFIED]: PKB's newer examples put the email in XTN-1, its older ones in
    XTN-4; the setting says which, both by default."""
    settings.PKB_EMAIL_COMPONENT = component
    patient = shared(team, clinician, transport, email="pat@example.org")
    (registration,) = arrived(sandbox, patient.nhs_number, "ADT")
    assert hl7apy_parse(registration).pid.pid_13[0].to_er7() == expected


# --- the conformance profile, on the way out -------------------------------------------------


def _report(observations: tuple[LabObservation, ...]) -> LabReport:
    return LabReport(
        filler_order_number=f"26L{next(_fon):07d}",
        service_code="TM",
        service_name="Tumour markers",
        observed_at=timezone.now() - dt.timedelta(days=1),
        observations=observations,
    )


def test_a_message_that_departs_from_the_profile_is_held_with_its_reason_not_sent(
    team, clinician, sandbox, transport
):
    """pkb_bridge.hl7.profile (sections 9.2 and 10): a payload in the outbox that breaks the
    profile (here an OBX without the offset section 10 asks for) is held with the reason and
    never reaches PKB; the patient's next, conforming message goes out."""
    patient = shared(team, clinician, transport)
    enrolment = services.active_enrolment(patient)
    assert enrolment is not None
    data = compose.patient_data(patient)
    report = _report((LabObservation(code="PSA", name="PSA", value="0.24", units="ug/L"),))

    def broken(context: MessageContext) -> str:
        # A lone backslash in OBX-6: an escape sequence that never ends (v2.4 2.7).
        return build_oru_lab(context, data, [report]).replace("|ug/L|", "|ug\\L|")

    held = services.message_enqueue(
        enrolment=enrolment, kind="ORU^R01", source_ref="test:broken", build=broken
    )
    good = services.message_enqueue(
        enrolment=enrolment,
        kind="ORU^R01",
        source_ref="test:good",
        build=lambda context: build_oru_lab(context, data, [_report(report.observations)]),
    )
    assert held is not None and good is not None
    drain(transport)
    held.refresh_from_db()
    good.refresh_from_db()
    assert held.status == OutboundMessage.Status.REJECTED
    assert "does not conform to PKB's interface" in held.last_error
    assert "backslash" in held.last_error
    attempt = DeliveryAttempt.objects.get(message=held)
    assert attempt.outcome == DeliveryAttempt.Outcome.REFUSED
    received = {entry["control_id"] for entry in sandbox.state.snapshot()["messages"]}
    assert held.control_id not in received
    assert good.status == OutboundMessage.Status.DELIVERED
    assert good.control_id in received


# --- SOAPAction and enhanced-mode acknowledgements -------------------------------------------


class _Peer(http.server.BaseHTTPRequestHandler):
    """PKB answering with a chosen MSA-1, and remembering each request's SOAPAction."""

    code = "CA"
    actions: list[str] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
        type(self).actions.append(self.headers.get("SOAPAction", ""))
        control_id = body.split("|")[9]
        ack = (
            "MSH|^~\\&|HL7API|PKB|RMS|RXX|20261110141502||ACK^R01|PKB-1|P|2.4\r"
            f"MSA|{type(self).code}|{control_id}|Answer {type(self).code}\r"
        )
        payload = soap_response(ack)
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def peer() -> Iterator[http.server.ThreadingHTTPServer]:
    _Peer.actions = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Peer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("CA", OutboundMessage.Status.DELIVERED),
        ("CE", OutboundMessage.Status.REJECTED),
        ("CR", OutboundMessage.Status.REJECTED),
    ],
)
def test_enhanced_mode_acks_are_read_as_their_original_mode_codes_and_soapaction_is_the_setting(
    team, clinician, settings, peer, code, status
):
    """HL7 v2.4 table 0008: CA (commit accept) accepts like AA; CE and CR (commit error and
    reject) are AE and AR (section 3.2: not retried). SOAPAction is PKB_SOAP_ACTION
    (section 3.1: the WSDL names the operation)."""
    settings.PKB_URL = f"http://127.0.0.1:{peer.server_port}/services/hl7"
    settings.PKB_SOAP_ACTION = "urn:acceptMessage"
    _Peer.code = code
    transport = services.transport_from_settings()
    patient: Patient = PatientFactory(teams=[team])
    services.enrolment_opt_in(
        patient=patient, actor=clinician, attestation="Consented in clinic, paper form filed"
    )
    drain(transport)
    transport.close()
    registration = OutboundMessage.objects.get(patient=patient, kind="ADT^A28")
    assert registration.status == status
    assert _Peer.actions == ['"urn:acceptMessage"']
