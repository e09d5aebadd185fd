"""One scale patient, built in memory: demographics, diagnosis, results, appointments, letters,
the plan's test and any open work item. Nothing here touches the database.

Results, observations, appointments and letters are tuples in the column order of their
``Table`` (the bulk of the rows, written with COPY); the few rows per patient with JSON or
constraints worth Django's checks are unsaved model instances. Foreign keys are filled in
when the rows are written.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User

from careplans.followup import schedule
from careplans.models import FollowUpPlan, Pathway, PlanTest, Rule, ScheduleStep
from devtools.demo import texts, values
from devtools.demo.people import GPS, demographics
from devtools.demo.plans import LAB, Marker, ObservationPlan, at, weekday
from devtools.scale.specs import (
    ALERT_SHARE,
    MRN_PREFIX,
    RISING_SHARE,
    RP,
    RT,
    TREATMENTS,
    ScaleTeam,
)
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Observation,
    Patient,
    Result,
    Team,
)
from worklists.models import WorkItem

RESULT_COLUMNS = (
    "patient_id",
    "category",
    "source_system",
    "filler_order_number",
    "service_code",
    "service_name",
    "observed_at",
    "reported_at",
    "status",
    "ordering_clinician",
)
OBSERVATION_COLUMNS = (
    "result_id",
    "sequence",
    "code",
    "code_system",
    "name",
    "value_type",
    "value_text",
    "value_numeric",
    "comparator",
    "units",
    "reference_range",
    "abnormal_flag",
    "observed_at",
    "status",
)
APPOINTMENT_COLUMNS = (
    "patient_id",
    "team_id",
    "placer_id",
    "starts_at",
    "ends_at",
    "appointment_type",
    "reason",
    "location",
    "clinician",
    "status",
)
DOCUMENT_COLUMNS = (
    "patient_id",
    "document_type",
    "title",
    "document_number",
    "authored_at",
    "author",
    "content_type",
    "content_html",
)

Row = tuple[Any, ...]


@dataclass
class Template:
    """A pathway with its schedule and rules, read once and copied onto every plan."""

    pathway: Pathway
    steps: list[ScheduleStep]
    rules: list[Rule]
    start_details: dict[str, Any]

    @property
    def test_code(self) -> str:
        return self.steps[0].test_code

    @property
    def test_name(self) -> str:
        return self.steps[0].test_name


@dataclass
class Context:
    """What every patient of a run shares."""

    today: dt.date
    years: int
    seed: int
    teams: dict[str, Team]
    clinicians: dict[str, User]
    templates: dict[str, Template]
    system: User


@dataclass
class Alert:
    """The cause of the patient's open work item."""

    kind: str
    raised_at: dt.datetime
    rule_index: int = 0
    evidence: list[Marker] = field(default_factory=list)
    due: dt.date | None = None


@dataclass
class Built:
    """One patient's rows. Tuples lack their leading foreign key (patient or result id)."""

    spec: ScaleTeam
    template: Template
    patient: Patient
    caseload: CaseloadEntry
    diagnosis: Diagnosis
    results: list[tuple[Row, list[Row]]]
    appointments: list[Row]
    documents: list[Row]
    plan: FollowUpPlan
    plan_test: PlanTest
    alert: Alert | None


def _fbc(
    rng: random.Random, base: dict[str, float], sex: str, post_operative: bool
) -> list[ObservationPlan]:
    # values.bloods also makes U&E and an eGFR, which this data set does not keep; at 50,000
    # patients that unused work would cost more than all the other values together.
    hb = rng.gauss(base["hb"], 5) - (18 if post_operative else 0)
    low, high = (115, 165) if sex == "F" else (130, 170)
    return [
        values.numeric("HB", "Haemoglobin", hb, 0, "g/L", low, high, f"{low}-{high}"),
        values.numeric(
            "WBC", "White cell count", rng.gauss(base["wcc"], 0.9), 1, "10*9/L", 4, 11, "4.0-11.0"
        ),
        values.numeric(
            "PLT", "Platelets", rng.gauss(base["plt"], 25), 0, "10*9/L", 150, 400, "150-400"
        ),
    ]


def _result(
    number: str,
    code: str,
    name: str,
    taken: dt.datetime,
    reported: dt.datetime,
    clinician: str,
    planned: list[ObservationPlan],
) -> tuple[Row, list[Row]]:
    result = (
        Result.Category.LAB,
        LAB,
        number,
        code,
        name,
        taken,
        reported,
        Result.Status.FINAL,
        clinician,
    )
    observations = [
        (
            sequence,
            o.code,
            LAB,
            o.name,
            o.value_type,
            o.value_text,
            o.value_numeric,
            o.comparator,
            o.units,
            o.reference_range,
            o.abnormal_flag,
            taken,
            Observation.Status.FINAL,
        )
        for sequence, o in enumerate(planned, start=1)
    ]
    return result, observations


def _grace(steps: list[ScheduleStep], anchor: dt.date, due: dt.date | None) -> int:
    step = schedule.step_on(steps, anchor=anchor, day=due) if due is not None else None
    if step is None:
        step = min(steps, key=lambda s: s.from_month)
    return step.grace_days


def _stopped_early(
    days: list[dt.date], steps: list[ScheduleStep], anchor: dt.date, today: dt.date
) -> list[dt.date] | None:
    """The samples of a patient who stopped coming: the longest start of ``days`` after which
    the scheduled test fell due, and out of its grace period, at least a week ago."""
    kept = list(days)
    while len(kept) > 2:
        due = schedule.due_after(steps, anchor=anchor, last=kept[-1])
        if due is not None and due + dt.timedelta(days=_grace(steps, anchor, due) + 7) < today:
            return kept
        kept.pop()
    return None


def _choose(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    roll = rng.random()
    for code, share in options:
        if roll < share:
            return code
        roll -= share
    return options[-1][0]


def build_patient(index: int, number: str, spec: ScaleTeam, ctx: Context) -> Built:
    """Scale patient ``index`` of ``spec``'s team, with NHS number ``number``. Deterministic
    for a given index and seed."""
    rng = random.Random(f"scale-{ctx.seed}-{index}")  # noqa: S311 (synthetic data)
    today = ctx.today
    template = ctx.templates[_choose(rng, spec.pathways)]
    path = template.pathway.code
    sex = "F" if rng.random() < spec.female_share else "M"
    person = demographics(
        index=index, number=number, sex=sex, rng=rng, born_between=spec.born_between
    )
    ref = f"{MRN_PREFIX}{index + 1:07d}"
    person["mrn"] = ref
    patient = Patient(**person)

    # Follow-up began between half of ``years`` and ``years`` ago, so the caseload holds
    # patients at every stage (and the colorectal CEA schedule, which ends at five years,
    # still has tests due for most of them).
    span = rng.randint(ctx.years * 365 // 2, ctx.years * 365)
    start = weekday(today - dt.timedelta(days=span))
    treated = weekday(start + dt.timedelta(days=rng.randint(35, 70)))
    diagnosed = start - dt.timedelta(days=rng.randint(10, 30))
    roll = rng.random()
    rising = bool(spec.marker) and roll < RISING_SHARE
    overdue = not rising and roll < ALERT_SHARE

    # A baseline before treatment, then about every three months (85 to 110 days).
    days = [start]
    day = treated + dt.timedelta(days=rng.randint(35, 50))
    while day < today - dt.timedelta(days=7):
        days.append(weekday(day))
        day += dt.timedelta(days=rng.randint(85, 110))
    steps = template.steps
    if overdue:
        kept = _stopped_early(days, steps, treated, today)
        overdue = kept is not None
        days = kept or days

    if path == RP:
        series: list[float] | None = values.psa_after_prostatectomy(rng, days, treated, rising)
    elif path == RT:
        series = values.psa_after_radiotherapy(rng, days, treated, rising)
    elif spec.marker == "CEA":
        series = values.cea_after_surgery(rng, days, rising)
    else:
        series = None
    base = {
        "hb": rng.gauss(146 if sex == "M" else 133, 6),
        "wcc": rng.gauss(6.5, 1.0),
        "plt": rng.gauss(255, 40),
    }
    surgical = path != RT
    results: list[tuple[Row, list[Row]]] = []
    markers: list[Marker] = []
    taken = reported = at(start, 9)
    for position, day in enumerate(days):
        taken = at(day, rng.randint(8, 11), rng.choice((0, 15, 30, 45)))
        reported = taken + dt.timedelta(hours=rng.randint(4, 9))
        if series is not None:
            if spec.marker == "PSA":
                marker = values.psa_observation(series[position])
                name = "Prostate specific antigen"
            else:
                marker = values.numeric(
                    "CEA", "CEA", series[position], 1, "ug/L", None, 5.0, "0.0-5.0"
                )
                name = "Carcinoembryonic antigen"
            filler = f"{ref}-L{len(results) + 1:03d}"
            results.append(_result(filler, spec.marker, name, taken, reported, spec.cns, [marker]))
            markers.append(Marker(day, marker.value_text, float(marker.value_numeric or 0)))
        fbc = _fbc(rng, base, sex, post_operative=surgical and position == 1)
        filler = f"{ref}-L{len(results) + 1:03d}"
        results.append(_result(filler, "FBC", "Full blood count", taken, reported, spec.cns, fbc))

    # The plan's one test: when it was last taken (since the anchor) and when it is next due.
    last = days[-1] if len(days) > 1 else None
    due = schedule.due_after(steps, anchor=treated, last=last)
    plan_test = PlanTest(
        test_code=template.test_code,
        test_name=template.test_name,
        last_result_at=taken if last is not None else None,
        next_due_date=due,
        grace_days=_grace(steps, treated, due),
        overdue_raised_for=due if overdue else None,
    )
    alert: Alert | None = None
    if rising and len(markers) >= 3:
        alert = Alert(
            kind=WorkItem.Kind.THRESHOLD_BREACH,
            raised_at=reported,
            rule_index=rng.randrange(len(template.rules)),
            evidence=markers[-2:],
        )
    elif overdue and due is not None:
        # The nightly overdue scan raises the item the day after the grace period ends.
        raised_on = due + dt.timedelta(days=plan_test.grace_days + 1)
        alert = Alert(kind=WorkItem.Kind.OVERDUE_TEST, raised_at=at(raised_on, 2), due=due)

    code, text, stages = rng.choice(spec.diagnoses)
    diagnosis = Diagnosis(
        code=code,
        code_system=Diagnosis.CodeSystem.SNOMED_CT,
        text=text,
        diagnosed_on=diagnosed,
        tumour_site=spec.tumour_site,
        stage=rng.choice(stages),
        # A rising marker is not yet a confirmed recurrence: the diagnosis stays active.
        status=Diagnosis.Status.ACTIVE if rising else Diagnosis.Status.REMISSION,
    )
    appointments, documents = _visits(
        rng,
        index=index,
        ref=ref,
        spec=spec,
        person=person,
        diagnosis=diagnosis,
        treatment=TREATMENTS[path],
        treated=treated,
        markers=markers,
        rising=rising,
        today=today,
    )
    team_id = ctx.teams[spec.code].pk
    clinician_id = ctx.clinicians[spec.code].pk
    return Built(
        spec=spec,
        template=template,
        patient=patient,
        caseload=CaseloadEntry(team_id=team_id, started_on=diagnosed, added_by_id=clinician_id),
        diagnosis=diagnosis,
        results=results,
        appointments=appointments,
        documents=documents,
        plan=FollowUpPlan(
            team_id=team_id,
            pathway_id=template.pathway.pk,
            anchor_date=treated,
            status=FollowUpPlan.Status.ACTIVE,
            started_by_id=clinician_id,
        ),
        plan_test=plan_test,
        alert=alert,
    )


def _visits(
    rng: random.Random,
    *,
    index: int,
    ref: str,
    spec: ScaleTeam,
    person: dict[str, Any],
    diagnosis: Diagnosis,
    treatment: str,
    treated: dt.date,
    markers: list[Marker],
    rising: bool,
    today: dt.date,
) -> tuple[list[Row], list[Row]]:
    """Appointments (without patient and team ids) and clinic letters (without patient id):
    a review after treatment and the latest routine one, each with its letter; now and then
    one the patient missed; one booked in the coming weeks."""
    appointments: list[Row] = []
    documents: list[Row] = []
    topic = f"{spec.marker or 'Blood count'} follow-up"

    def add(day: dt.date, status: str, face_to_face: bool, reason: str) -> None:
        starts = at(weekday(day), rng.randint(9, 15), rng.choice((0, 20, 40)))
        clinician = spec.consultant if face_to_face else spec.cns
        appointments.append(
            (
                f"{ref}-A{len(appointments) + 1:02d}",
                starts,
                starts + dt.timedelta(minutes=30 if face_to_face else 20),
                "Face to face review" if face_to_face else "Telephone review",
                reason,
                spec.location if face_to_face else "Telephone clinic",
                clinician,
                status,
            )
        )
        if status != Appointment.Status.ATTENDED:
            return
        earlier = [m for m in markers if m.on <= starts.date()]
        letter = texts.clinic_letter(
            patient=person,
            diagnosis=f"{diagnosis.text}, {diagnosis.stage}",
            treatment=treatment,
            treated_on=treated,
            gp=GPS[index % len(GPS)],
            clinician=clinician,
            face_to_face=face_to_face,
            marker=spec.marker,
            latest=earlier[-1] if earlier else None,
            state="watch" if rising else "stable",
        )
        documents.append(
            (
                Document.DocumentType.CLINIC_LETTER,
                f"{spec.short} clinic letter, {starts.day} {starts:%B %Y}",
                f"{ref}-D{len(documents) + 1:02d}",
                at(weekday(starts.date() + dt.timedelta(days=1)), 10),
                clinician,
                Document.ContentType.HTML,
                letter,
            )
        )

    after = treated + dt.timedelta(days=rng.randint(42, 56))
    add(after, Appointment.Status.ATTENDED, True, "Post-treatment review")
    latest_review = today - dt.timedelta(days=rng.randint(30, 300))
    if latest_review > after + dt.timedelta(days=90):
        add(latest_review, Appointment.Status.ATTENDED, False, topic)
    if index % 5 == 2:
        add(treated + (today - treated) / 2, Appointment.Status.DID_NOT_ATTEND, False, topic)
    soon = rng.randint(7, 21) if rising else rng.randint(21, 90)
    add(today + dt.timedelta(days=soon), Appointment.Status.BOOKED, rising, topic)
    return appointments, documents
