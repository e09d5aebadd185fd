"""Two to five years of synthetic follow-up for each demo patient, as plain data (no ORM).

``build_plan(anchor)`` is deterministic: each patient draws from their own ``random.Random``
seeded with a constant and their index, so every run describes the same people with the same
histories, and the ids (filler order numbers, placer ids, document numbers) that let a re-run
find what an earlier run wrote. Dates count back from ``anchor`` (today), so a new user sees
recent results and a booked appointment in the future. The values themselves are made in
``values`` and the report and letter text in ``texts``.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from devtools.demo import texts, values
from devtools.demo.people import GPS, SEED, demo_nhs_numbers, demographics
from devtools.demo.plans import (
    ID_PREFIX,
    LAB,
    RADIOLOGY,
    AppointmentPlan,
    DocumentPlan,
    Marker,
    ObservationPlan,
    PatientPlan,
    ResultPlan,
    at,
    long_date,
    weekday,
)
from rms.models import Appointment, Diagnosis, Result, TumourSite

# Pathways, by patient index (50 patients): which team, which treatment, who recurs.
RP = "prostatectomy"
RT = "radiotherapy"
COLON = "colon"
RECTUM = "rectum"
PATIENT_COUNT = 50
RISING = frozenset({3, 9, 12, 17, 24, 33, 44})
# Kidney function a little reduced, so some U&E results are flagged.
CKD = frozenset({6, 20, 38})


def pathway(index: int) -> str:
    if index < 14:
        return RP
    if index < 28:
        return RT
    return RECTUM if index % 3 == 0 else COLON


# ---------------------------------------------------------------------------
# One patient
# ---------------------------------------------------------------------------

_STAGES = {
    RP: ("pT2 N0 M0, Gleason 3+4=7", "pT2 N0 M0, Gleason 4+3=7", "pT3a N0 M0, Gleason 3+4=7"),
    RT: ("T2b N0 M0, Gleason 3+4=7", "T2c N0 M0, Gleason 4+3=7", "T3a N0 M0, Gleason 4+4=8"),
    COLON: ("pT3 N0 M0 (Dukes B)", "pT3 N1a M0 (Dukes C)", "pT2 N0 M0 (Dukes A)"),
    RECTUM: ("ypT2 N0 M0", "ypT3 N0 M0", "ypT3 N1b M0"),
}
_TREATMENTS = {
    RP: "robot-assisted radical prostatectomy",
    RT: "radical radiotherapy (60 Gy in 20 fractions) with hormone therapy",
    COLON: "laparoscopic right hemicolectomy",
    RECTUM: "laparoscopic anterior resection",
}


@dataclass(frozen=True)
class _Service:
    location: str
    cns: str
    consultant: str
    marker: str
    short: str


_SERVICES = {
    "URO": _Service(
        location="Urology outpatients, Riverside Hospital",
        cns="Sister Joanna Reid, Urology CNS",
        consultant="Mr Tobias Grant, Consultant Urologist",
        marker="PSA",
        short="Urology",
    ),
    "CRC": _Service(
        location="Colorectal outpatients, Riverside Hospital",
        cns="Sister Amira Haddad, Colorectal CNS",
        consultant="Ms Fiona Dale, Consultant Colorectal Surgeon",
        marker="CEA",
        short="Colorectal",
    ),
}


def _diagnosis(
    path: str, rng: random.Random, diagnosed_on: dt.date, rising: bool
) -> dict[str, Any]:
    if path in (RP, RT):
        code, text, site = "399068003", "Malignant tumour of prostate", TumourSite.PROSTATE
    elif path == COLON:
        code, text, site = "363406005", "Malignant tumour of colon", TumourSite.COLORECTAL
    else:
        code, text, site = "363351006", "Malignant tumour of rectum", TumourSite.COLORECTAL
    return {
        "code": code,
        "code_system": Diagnosis.CodeSystem.SNOMED_CT,
        "text": text,
        "diagnosed_on": diagnosed_on,
        "tumour_site": site,
        "stage": rng.choice(_STAGES[path]),
        # Rising markers are not yet a confirmed recurrence: the diagnosis stays active.
        "status": Diagnosis.Status.ACTIVE if rising else Diagnosis.Status.REMISSION,
    }


def marker_state(path: str, markers: list[Marker], upto: int) -> str:
    """How the CNS reads marker ``upto`` of the series: ``"rising"`` at the recurrence
    threshold (PSA 0.2 after prostatectomy, nadir + 2 after radiotherapy, CEA above 5),
    ``"watch"`` when it is creeping up, ``"stable"`` otherwise."""
    value = markers[upto].value
    if path == RP:
        return "rising" if value >= 0.2 else "watch" if value > 0.03 else "stable"
    if path == RT:
        nadir = min(m.value for m in markers[1 : upto + 1]) if upto >= 1 else value
        return "rising" if value > nadir + 2 else "watch" if value > nadir + 1 else "stable"
    return "rising" if value > 5 else "watch" if value > 4 else "stable"


def _plan_patient(index: int, number: str, anchor: dt.date) -> PatientPlan:
    # A generator per patient: adding a patient never changes anyone else's history.
    rng = random.Random(f"{SEED}-{index}")  # noqa: S311 (synthetic data, not security)
    path = pathway(index)
    rising = index in RISING
    team_code = "URO" if path in (RP, RT) else "CRC"
    sex = "M" if team_code == "URO" or rng.random() < 0.55 else "F"
    service = _SERVICES[team_code]
    cns, consultant = service.cns, service.consultant

    # Recurrences need a longer history to be seen developing.
    shortest = 3 * 365 + 60 if rising else 2 * 365 + 60
    start = anchor - dt.timedelta(days=rng.randint(shortest, 5 * 365 - 20))
    start = weekday(start)
    treated = weekday(start + dt.timedelta(days=rng.randint(35, 70)))
    diagnosed = start - dt.timedelta(days=rng.randint(10, 30))

    plan = PatientPlan(
        index=index,
        team_code=team_code,
        pathway=path,
        rising=rising,
        treated_on=treated,
        demographics=demographics(
            index=index,
            number=number,
            sex=sex,
            rng=rng,
            born_between=(1940, 1962) if team_code == "URO" else (1942, 1972),
        ),
        diagnosis=_diagnosis(path, rng, diagnosed, rising),
    )
    born = plan.demographics["date_of_birth"]
    ref = f"{ID_PREFIX}{index + 1:03d}"
    counter = {"lab": 0, "rad": 0}

    def lab(day: dt.date, code: str, name: str, observations: list[ObservationPlan]) -> None:
        counter["lab"] += 1
        taken = at(day, rng.randint(8, 11), rng.choice((0, 15, 30, 45)))
        plan.results.append(
            ResultPlan(
                source_system=LAB,
                filler_order_number=f"{ref}-L{counter['lab']:03d}",
                category=Result.Category.LAB,
                service_code=code,
                service_name=name,
                observed_at=taken,
                reported_at=taken + dt.timedelta(hours=rng.randint(4, 9)),
                ordering_clinician=cns,
                observations=observations,
            )
        )

    def radiology(day: dt.date, code: str, text: str) -> None:
        counter["rad"] += 1
        done = at(weekday(day), rng.randint(9, 16))
        plan.results.append(
            ResultPlan(
                source_system=RADIOLOGY,
                filler_order_number=f"{ref}-R{counter['rad']:02d}",
                category=Result.Category.RADIOLOGY,
                service_code=code,
                service_name=texts.RADIOLOGY_SERVICES[code],
                observed_at=done,
                reported_at=done + dt.timedelta(days=rng.randint(1, 3), hours=2),
                ordering_clinician=consultant,
                report_text=text,
            )
        )

    # Tumour marker series.
    days = values.sample_days(rng, start, treated, anchor)
    if path == RP:
        series = values.psa_after_prostatectomy(rng, days, treated, rising)
    elif path == RT:
        series = values.psa_after_radiotherapy(rng, days, treated, rising)
    else:
        series = values.cea_after_surgery(rng, days, rising)
    markers: list[Marker] = []
    for day, value in zip(days, series, strict=True):
        if team_code == "URO":
            observation = values.psa_observation(value)
            lab(day, "PSA", "Prostate specific antigen", [observation])
        else:
            observation = values.numeric("CEA", "CEA", value, 1, "ug/L", None, 5.0, "0.0-5.0")
            lab(day, "CEA", "Carcinoembryonic antigen", [observation])
        markers.append(Marker(day, observation.value_text, float(observation.value_numeric or 0)))

    # Routine bloods with every other marker sample, and at the first and last.
    base = {
        "hb": rng.gauss(146 if sex == "M" else 133, 6),
        "wcc": rng.gauss(6.5, 1.0),
        "plt": rng.gauss(255, 40),
        "creat": rng.uniform(125, 150) if index in CKD else rng.gauss(82 if sex == "M" else 66, 8),
    }
    surgical = path != RT
    for position, day in enumerate(days):
        if position not in (0, len(days) - 1) and position % 2:
            continue
        fbc, ue = values.bloods(
            rng, day=day, born=born, sex=sex, base=base, post_operative=surgical and position == 1
        )
        lab(day, "FBC", "Full blood count", fbc)
        lab(day, "UE", "Urea and electrolytes", ue)

    # Imaging: staging, surveillance, and the scans a rising marker prompts.
    near_end = anchor - dt.timedelta(days=rng.randint(3, 6))
    if path in (RP, RT):
        radiology(start + dt.timedelta(days=5), "MRPROS", texts.mri_prostate_text())
        if path == RT:
            radiology(
                start + dt.timedelta(days=12),
                "NMBONE",
                texts.bone_scan_text(
                    clinical="High-risk prostate cancer. Staging.", recurrence=False
                ),
            )
        if rising:
            clinical = f"Rising PSA after {_TREATMENTS[path].split(' (')[0]}. Restaging."
            bone_scan = texts.bone_scan_text(clinical=clinical, recurrence=path == RT)
            radiology(near_end, "NMBONE", bone_scan)
            radiology(
                near_end - dt.timedelta(days=7),
                "CTCAP",
                texts.ct_text(clinical=clinical, comparison=None, recurrence=False),
            )
    else:
        if path == RECTUM:
            radiology(start + dt.timedelta(days=2), "MRPELV", texts.mri_pelvis_text())
        radiology(
            start + dt.timedelta(days=5),
            "CTCAP",
            texts.ct_text(
                clinical="Colorectal cancer. Staging.", comparison=None, recurrence=False
            ),
        )
        previous = start + dt.timedelta(days=5)
        year = 1
        while treated + dt.timedelta(days=365 * year) < anchor - dt.timedelta(days=30):
            day = treated + dt.timedelta(days=365 * year + rng.randint(-14, 14))
            radiology(
                day,
                "CTCAP",
                texts.ct_text(
                    clinical=f"Surveillance, {12 * year} months after surgery.",
                    comparison=previous,
                    recurrence=False,
                ),
            )
            previous, year = day, year + 1
        if rising:
            radiology(
                near_end,
                "CTCAP",
                texts.ct_text(clinical="Rising CEA.", comparison=previous, recurrence=True),
            )

    # Appointments: a review after treatment and yearly after, one booked in the future;
    # some patients also have a cancelled appointment or one they did not attend.
    gp = GPS[index % len(GPS)]
    appointment_no = 0

    def appointment(day: dt.date, status: str, face_to_face: bool, reason: str) -> None:
        nonlocal appointment_no
        appointment_no += 1
        day = weekday(day)
        starts = at(day, rng.randint(9, 15), rng.choice((0, 20, 40)))
        clinician = consultant if face_to_face else cns
        plan.appointments.append(
            AppointmentPlan(
                placer_id=f"{ref}-A{appointment_no:02d}",
                starts_at=starts,
                ends_at=starts + dt.timedelta(minutes=30 if face_to_face else 20),
                appointment_type="Face to face review" if face_to_face else "Telephone review",
                reason=reason,
                location=service.location if face_to_face else "Telephone clinic",
                clinician=clinician,
                status=status,
            )
        )
        if status == Appointment.Status.ATTENDED:
            earlier = [i for i, m in enumerate(markers) if m.on <= day]
            latest = markers[earlier[-1]] if earlier else None
            state = marker_state(path, markers, earlier[-1]) if earlier else "stable"
            plan.documents.append(
                DocumentPlan(
                    document_number=f"{ref}-D{len(plan.documents) + 1:02d}",
                    title=f"{service.short} clinic letter, {long_date(day)}",
                    authored_at=at(weekday(day + dt.timedelta(days=1)), 10),
                    author=clinician,
                    content_html=texts.clinic_letter(
                        patient=plan.demographics,
                        diagnosis=f"{plan.diagnosis['text']}, {plan.diagnosis['stage']}",
                        treatment=_TREATMENTS[path],
                        treated_on=treated,
                        gp=gp,
                        clinician=clinician,
                        face_to_face=face_to_face,
                        marker=service.marker,
                        latest=latest,
                        state=state,
                    ),
                )
            )

    marker_name = service.marker
    appointment(
        treated + dt.timedelta(days=rng.randint(42, 56)),
        Appointment.Status.ATTENDED,
        True,
        "Post-treatment review",
    )
    year = 1
    while treated + dt.timedelta(days=365 * year) < anchor - dt.timedelta(days=14):
        appointment(
            treated + dt.timedelta(days=365 * year + rng.randint(0, 10)),
            Appointment.Status.ATTENDED,
            False,
            f"{marker_name} follow-up, year {year}",
        )
        year += 1
    middle = treated + (anchor - treated) / 2
    if index % 4 == 1:
        appointment(middle, Appointment.Status.CANCELLED, False, f"{marker_name} follow-up")
    if index % 5 == 2:
        appointment(
            middle + dt.timedelta(days=40),
            Appointment.Status.DID_NOT_ATTEND,
            False,
            f"{marker_name} follow-up",
        )
    appointment(
        anchor + dt.timedelta(days=rng.randint(7, 21) if rising else rng.randint(21, 90)),
        Appointment.Status.BOOKED,
        rising,
        f"Rising {marker_name}: results of imaging" if rising else f"{marker_name} follow-up",
    )
    return plan


def build_plan(anchor: dt.date) -> list[PatientPlan]:
    """The whole demo caseload, with histories ending at ``anchor``. Pure and deterministic."""
    numbers = demo_nhs_numbers(PATIENT_COUNT)
    return [_plan_patient(index, numbers[index], anchor) for index in range(PATIENT_COUNT)]
