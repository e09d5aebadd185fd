"""No patient data in the logs: the main flows run with every logger at DEBUG, and neither the
records (message, arguments, extras, tracebacks) nor the JSON lines our production formatter
writes may contain the patient's NHS number, names or date of birth.

SQL logging (``django.db.backends`` at DEBUG) is left at its configured level: Django writes
it only with DEBUG on, which production refuses.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from careplans.followup import services as plan_services
from careplans.models import Pathway
from devtools.sandbox import SandboxServer
from pkb_bridge import services as pkb_services
from pkb_bridge.models import OutboundMessage
from pkb_bridge.transport import PkbTransport
from rms.inbound import receive
from rms.models import Patient
from rms.ops.logging import JsonFormatter, RequestIdFilter
from tests.conftest import token_client
from tests.factories import DiagnosisFactory, PatientFactory, UserFactory
from tests.rms.hl7.samples import sample_bytes
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

NHS = "9990000018"
GIVEN, FAMILY = "Alan", "Tester"
DOB = dt.date(1958, 2, 14)
FORBIDDEN = [
    NHS,
    "999 000 0018",
    "999-000-0018",
    GIVEN,
    FAMILY,
    FAMILY.upper(),
    "1958-02-14",
    "19580214",
    "14/02/1958",
    "14 Feb 1958",
    "14 February 1958",
    "14.02.1958",
]
STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.json = JsonFormatter()
        self.addFilter(RequestIdFilter())
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        parts = [self.json.format(record), str(record.msg), repr(record.args)]
        with contextlib.suppress(TypeError):
            parts.append(record.getMessage())
        parts += [
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in STANDARD and isinstance(v, str | int | float | dict | list | tuple)
        ]
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        self.texts.append(f"[{record.name}] " + " | ".join(parts))


@pytest.fixture
def captured() -> Iterator[Capture]:
    handler = Capture()
    root = logging.getLogger()
    saved = {
        name: logger.level
        for name, logger in logging.root.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in saved:
        if not name.startswith("django.db.backends"):
            logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(root_level)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def leaks(texts: list[str]) -> list[str]:
    return [f"{word!r} in {text[:300]}" for text in texts for word in FORBIDDEN if word in text]


def test_the_main_flows_log_no_patient_identifiers(
    captured: Capture,
    client: Client,
    team,
    clinician,
    other_team_clinician,
    sandbox: SandboxServer,
    django_capture_on_commit_callbacks,
) -> None:
    psa = sample_bytes("oru_r01_psa.hl7")
    # Inbound: an unknown patient (held), a malformed message, then the known patient.
    receive(raw=psa, channel="mllp", peer="10.0.0.1")
    receive(raw=b"MSH|^~\\&|WINPATH|RXX01|RMS|RXX|2026||ORU^R01|X1|P|2.4\rPID|1||" + NHS.encode()
            + b"^^^NHS^NH||TESTER^Alan||19580214|M\rOBX|1|NM|bad", channel="mllp")  # fmt: skip
    patient: Patient = PatientFactory(
        nhs_number=NHS,
        mrn="RXX1234567",
        given_name=GIVEN,
        family_name=FAMILY,
        date_of_birth=DOB,
        email="alan.tester@example.com",
        teams=[team],
    )
    DiagnosisFactory(patient=patient)
    plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
        anchor_date=dt.date(2026, 1, 5),
        actor=clinician,
    )
    with django_capture_on_commit_callbacks(execute=True):
        receive(raw=psa.replace(b"LAB0000101", b"LAB0000102"), channel="mllp", peer="10.0.0.1")

    # PKB: opt-in, delivery to the sandbox, one message rejected with PKB's text.
    # The doorbell (on_commit) would ring the configured PKB, not the sandbox: the dispatcher
    # is run here as a worker would, with a transport to the sandbox.
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    last = OutboundMessage.objects.filter(patient=patient).order_by("-seq").first()
    assert last is not None
    sandbox.set_faults(
        reject_control_ids=[last.control_id], ar_text=f"Unknown patient {NHS} {FAMILY}"
    )
    transport = PkbTransport(sandbox.url, "rms", "pw", connect_timeout_s=2.0, deadline_s=3.0)
    try:
        for _ in range(5):
            if not pkb_services.dispatch(transport=transport, budget_s=10):
                break
    finally:
        transport.close()
    last.refresh_from_db()
    assert last.status == OutboundMessage.Status.REJECTED
    assert WorkItem.objects.exists()

    # Pages: the record, a search by NHS number and name, another team's 404, the API.
    client.force_login(clinician)
    assert client.get(reverse("rms:patient_detail", args=[patient.public_id])).status_code == 200
    assert client.get(reverse("rms:patient_list"), {"q": "999 000 0018"}).status_code == 200
    assert client.get(reverse("rms:patient_list"), {"q": FAMILY}).status_code == 200
    client.force_login(other_team_clinician)
    page = reverse("rms:patient_detail", args=[patient.public_id])
    assert client.get(page).status_code == 404
    api = token_client(clinician)
    assert api.get(reverse("api:patient-detail", args=[patient.public_id])).status_code == 200
    feed = UserFactory(username="feed")
    feed.user_permissions.add(Permission.objects.get(codename="submit_inbound"))
    body = psa.replace(b"LAB0000101", b"LAB0000103")
    response = token_client(feed).generic(
        "POST", reverse("api:inbound-hl7"), body, content_type="text/plain"
    )
    assert response.status_code == 200

    assert len(captured.texts) > 10  # the capture really saw the flows
    assert leaks(captured.texts) == []
