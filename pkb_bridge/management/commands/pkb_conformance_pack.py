"""``manage.py pkb_conformance_pack DIR``: one message of every kind the bridge sends to PKB,
for a fictional patient, each checked against PKB's conformance profile.

What a Trust's integration team sends to PKB's test environment when going live (docs/pkb.md).
The messages are built from plain values by the same builders and settings the outbox uses
(PKB_SENDING_APPLICATION, PKB_RADIOLOGY_APPLICATION, PKB_PROCESSING_ID, PKB_DELAY_FIELD,
PKB_EMAIL_COMPONENT, PKB_CARE_PLAN_WITHDRAWN_TEXT), so nothing is read from or written to the
database. The patient's NHS number is in the test range 999 000 0000-999 999 9999, which is
never issued (pkb-hl7-interface.md 11.1).

Writes ``NN-<kind>.hl7`` (segments separated by CR, as on the wire inside the SOAP envelope)
and ``report.txt`` (each file's profile and its check). Exits with an error if any message
fails its check, after writing everything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from pkb_bridge import compose, hl7

# A fictional patient: an NHS number from the test range (valid check digit, never issued).
TEST_NHS_NUMBER = "9990000018"
Builder = Callable[[hl7.MessageContext], str]


@dataclass(frozen=True)
class Kind:
    name: str  # the file name's stem
    event: str  # what it is sent for (docs/pkb.md lists the same events)
    build: Builder


def _kinds(now: dt.datetime) -> list[Kind]:
    patient = hl7.Patient(
        nhs_number=TEST_NHS_NUMBER,
        nhs_number_status="01",
        given_name="Alex",
        family_name="Testpatient",
        title="Mx",
        date_of_birth=dt.date(1960, 1, 1),
        sex="U",
        address_line1="1 Test Street",
        city="Testtown",
        postcode="ZZ99 3VZ",
        phone_mobile="07700900000",
        email="alex.testpatient@example.org",
    )
    diagnosis = hl7.Diagnosis(
        code="399068003",
        code_system_text="SNOMED CT",
        text="Malignant tumour of prostate",
        diagnosed_at=dt.date(2024, 6, 3),
    )
    observed = (now - dt.timedelta(days=2)).replace(microsecond=0)
    delay_field = compose.delay_field()
    observations = (
        hl7.LabObservation(
            code="PSA",
            name="Prostate specific antigen",
            value="0.24",
            units="ug/L",
            reference_range="0.00-0.10",
            abnormal_flag="H",
            observed_at=observed,
        ),
        hl7.LabObservation(
            code="COM",
            name="Laboratory comment",
            value="Sample received late.\nPlease repeat in 3 months.",
            value_type="TX",
            observed_at=observed,
        ),
        # Withdrawn by the lab (OBX-11 W): never sent; the file shows it is left out.
        hl7.LabObservation(
            code="CEA", name="CEA", value="9.9", units="ug/L", status="W", observed_at=observed
        ),
    )
    lab = hl7.LabReport(
        filler_order_number="PACK-LAB-0001",
        placer_order_number="PACK-ORD-0001",
        service_code="TM",
        service_name="Tumour markers",
        observed_at=observed,
        reported_at=observed + dt.timedelta(hours=6),
        ordering_clinician=hl7.PersonName("Surgeon", "Sam", title="Mr"),
        observations=observations,
        delay_days=7,
    )
    history = [
        hl7.LabReport(
            filler_order_number=f"PACK-LAB-H{number:03d}",
            service_code="TM",
            service_name="Tumour markers",
            observed_at=observed - dt.timedelta(days=90 * number),
            observations=(observations[0],),
        )
        for number in (1, 2)
    ]
    radiology = hl7.RadiologyReport(
        filler_order_number="PACK-RAD-0001",
        service_code="CTCAP",
        service_name="CT chest, abdomen and pelvis",
        observed_at=observed,
        report_text="CT chest, abdomen and pelvis.\nFindings: no change.\n\nImpression: stable.",
        ordering_clinician="Dr A Khan",
        delay_days=7,
    )
    letter = hl7.Document(
        document_number="PACK-DOC-0001",
        document_type="CL",
        title="Clinic letter",
        authored_at=observed,
        content_html="<p>Dear Alex, your PSA is stable.</p>",
        author=hl7.PersonName("Khan", "A", title="Dr"),
        filename="PACK-DOC-0001.html",
    )
    pdf_letter = hl7.Document(
        document_number="PACK-DOC-0002",
        document_type="CL",
        title="Clinic letter (PDF)",
        authored_at=observed,
        content_pdf=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n",
        filename="PACK-DOC-0002.pdf",
    )
    plan = hl7.CarePlan(
        document_number="PACK-CP-0001",
        title="After your operation",
        authored_at=observed,
        content_html="<h2>After your operation</h2><p>Pelvic floor exercises daily.</p>",
        filename="PACK-CP-0001.html",
    )
    withdrawal = compose.care_plan_withdrawal(
        document_number=plan.document_number,
        title=plan.title,
        author="",
        withdrawn_at=now.replace(microsecond=0),
    )
    appointment = hl7.Appointment(
        placer_id="PACK-APT-0001",
        starts_at=(now + dt.timedelta(days=14)).replace(hour=9, minute=30, second=0, microsecond=0),
        ends_at=(now + dt.timedelta(days=14)).replace(hour=9, minute=45, second=0, microsecond=0),
        reason="PSA follow-up",
        appointment_type="FU",
        location="Urology clinic",
        clinician=hl7.PersonName("Brown", "Alice", title="Sister"),
        clinician_role="Nurse",
        notes="Telephone appointment.\nPlease have your latest results to hand.",
    )

    def siu(trigger: hl7.build.SiuTrigger) -> Builder:
        return lambda ctx: hl7.build_siu(ctx, patient, appointment, trigger=trigger)

    def packed(ctx: hl7.MessageContext) -> str:
        (pack,) = hl7.pack_lab_groups(
            history,
            max_bytes=settings.PKB_PACK_MAX_BYTES,
            max_reports=settings.PKB_PACK_MAX_REPORTS,
            context=ctx,
            patient=patient,
            delay_field=delay_field,
        )
        return hl7.build_oru_lab_pack(ctx, patient, pack)

    deletion = hl7.LabReport(
        filler_order_number=lab.filler_order_number,
        service_code=lab.service_code,
        service_name=lab.service_name,
        observed_at=lab.observed_at,
        result_status="R",
    )
    return [
        Kind(
            "adt-a28-registration",
            "Opt-in: the registration, with every diagnosis and the email that invites the patient",
            lambda ctx: hl7.build_adt(ctx, patient, [diagnosis], trigger="A28"),
        ),
        Kind(
            "adt-a31-update",
            "Demographics or diagnoses changed",
            lambda ctx: hl7.build_adt(ctx, patient, [diagnosis], trigger="A31"),
        ),
        Kind(
            "oru-r01-lab",
            "A lab result (a withdrawn observation left out, a multi-line comment as FT, a delay)",
            lambda ctx: hl7.build_oru_lab(ctx, patient, [lab], delay_field=delay_field),
        ),
        Kind("oru-r01-lab-history", "Opt-in: the historic lab results, packed", packed),
        Kind(
            "oru-r01-lab-deletion",
            "A lab result deleted, or a published observation withdrawn (OBR-25 R)",
            lambda ctx: hl7.build_oru_lab(ctx, patient, [deletion], delay_field=delay_field),
        ),
        Kind(
            "oru-r01-radiology",
            "A radiology report, one TX OBX a line",
            lambda ctx: hl7.build_oru_radiology(ctx, patient, radiology),
        ),
        Kind(
            "mdm-t02-letter",
            "A letter (HTML)",
            lambda ctx: hl7.build_mdm(ctx, patient, letter),
        ),
        Kind(
            "mdm-t02-letter-pdf",
            "A letter (PDF)",
            lambda ctx: hl7.build_mdm(ctx, patient, pdf_letter),
        ),
        Kind(
            "mdm-t02-care-plan",
            "A care plan, or a new version of one",
            lambda ctx: hl7.build_care_plan(ctx, patient, plan),
        ),
        Kind(
            "mdm-t02-care-plan-withdrawal",
            "A care plan deleted: replaced by a version that says it was withdrawn",
            lambda ctx: hl7.build_care_plan(ctx, patient, withdrawal),
        ),
        Kind(
            "mdm-t11-document-deletion",
            "A letter deleted",
            lambda ctx: hl7.build_mdm_delete(ctx, patient, letter.document_number),
        ),
        Kind("siu-s12-booked", "An appointment booked", siu("S12")),
        Kind("siu-s13-changed", "An appointment changed", siu("S13")),
        Kind("siu-s15-cancelled", "An appointment cancelled", siu("S15")),
        Kind("siu-s26-did-not-attend", "An appointment not attended", siu("S26")),
    ]


class Command(BaseCommand):
    help = (
        "Write one message of every kind sent to PKB, for a fictional patient, with each "
        "message's conformance check, into DIR."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", help="where to write the .hl7 files and report.txt")
        parser.add_argument("--team-alias", default="RMS_TEST", help="MSH-4: the team's PKB alias")
        parser.add_argument(
            "--service-code", default="ONC", help="PV1-10: the hospital service code"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        directory = Path(options["directory"])
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"Cannot create {directory}: {exc.strerror}") from None
        now = timezone.now()
        radiology = [settings.PKB_RADIOLOGY_APPLICATION]
        lines = [
            "PKB conformance pack",
            f"Built: {now:%Y-%m-%d %H:%M:%S} UTC, for a fictional patient "
            f"(NHS number {TEST_NHS_NUMBER}, test range)",
            f"Settings: PKB_SENDING_APPLICATION={settings.PKB_SENDING_APPLICATION} "
            f"PKB_RADIOLOGY_APPLICATION={settings.PKB_RADIOLOGY_APPLICATION} "
            f"PKB_PROCESSING_ID={settings.PKB_PROCESSING_ID} "
            f"PKB_DELAY_FIELD={settings.PKB_DELAY_FIELD} "
            f"PKB_EMAIL_COMPONENT={settings.PKB_EMAIL_COMPONENT} "
            f"MSH-4={options['team_alias']} PV1-10={options['service_code']}",
            "",
        ]
        failed = 0
        for number, kind in enumerate(_kinds(now), 1):
            context = compose.context_with(
                sending_facility=options["team_alias"],
                service_code=options["service_code"],
                control_id=str(uuid.uuid4()),
                sent_at=now,
            )
            message = kind.build(context)
            name = f"{number:02d}-{kind.name}.hl7"
            (directory / name).write_bytes(message.encode("utf-8"))
            problems = hl7.profile.check(message, radiology_applications=radiology)
            profile = hl7.profile.profile_name(message, radiology_applications=radiology)
            verdict = "conforms" if not problems else f"FAILS ({len(problems)})"
            lines.append(f"{name}  {profile}  {verdict}")
            lines.append(f"    sent for: {kind.event}")
            lines.extend(f"    - {problem}" for problem in problems)
            failed += bool(problems)
        lines.extend(["", f"{failed} of {number} messages fail their profile."])
        (directory / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        self.stdout.write(f"Wrote {number} messages and report.txt to {directory}.")
        if failed:
            raise CommandError(f"{failed} message(s) do not conform; see report.txt.")
