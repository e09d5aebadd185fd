"""Writing the scale data set: the teams, logins and pathways through the services (a handful
of rows), then the patients ``CHUNK`` at a time in bulk, in one transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import DateTimeField, OuterRef, Subquery, Value
from django.db.models.functions import Cast
from django.utils import timezone

from careplans.followup.rules import validate
from careplans.followup.rules.common import make_key
from careplans.followup.services import plans as plan_services
from careplans.models import FollowUpPlan, Pathway, PlanChange, PlanTest, Rule, ScheduleStep
from devtools.demo.plans import at
from devtools.scale.patients import (
    APPOINTMENT_COLUMNS,
    DOCUMENT_COLUMNS,
    OBSERVATION_COLUMNS,
    RESULT_COLUMNS,
    Alert,
    Built,
    Context,
    Template,
    build_patient,
)
from devtools.scale.specs import (
    MRN_PREFIX,
    SYNTHETIC_PATHWAYS,
    SYNTHETIC_SOURCE,
    TEAMS,
    USERNAME_PREFIX,
    ScaleTeam,
    scale_nhs_numbers,
)
from devtools.scale.tables import BATCH, Table
from rms import services
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Observation,
    Patient,
    Result,
    Role,
    Team,
)
from worklists.models import WorkItem, WorkItemEvent

# Patients built and written at a time: enough for full batches, little enough memory.
CHUNK = 1000

MODELS: dict[str, type[models.Model]] = {
    "patients": Patient,
    "caseload entries": CaseloadEntry,
    "diagnoses": Diagnosis,
    "results": Result,
    "observations": Observation,
    "appointments": Appointment,
    "documents": Document,
    "plans": FollowUpPlan,
    "schedule steps": ScheduleStep,
    "rules": Rule,
    "plan tests": PlanTest,
    "plan changes": PlanChange,
    "work items": WorkItem,
    "work item events": WorkItemEvent,
}


class ScaleDataExists(Exception):
    """There are scale patients already and the caller did not ask to append."""


@dataclass
class ScaleSummary:
    """What one run wrote: rows created per ``MODELS`` entry, the logins, and the password
    given to the logins this run created (None when they all existed already)."""

    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODELS, 0))
    first_index: int = 0
    usernames: list[str] = field(default_factory=list)
    password: str | None = None


def scale_patients() -> models.QuerySet[Patient]:
    """Every scale patient, whatever team (for the generator and its tests, not for views)."""
    return Patient.objects.filter(mrn__startswith=MRN_PREFIX)


def _next_index() -> int:
    last = scale_patients().order_by("-mrn").values_list("mrn", flat=True).first()
    return int(last[len(MRN_PREFIX) :]) if last else 0


# ---------------------------------------------------------------------------
# Teams, logins and pathways
# ---------------------------------------------------------------------------
def _teams(specs: tuple[ScaleTeam, ...]) -> dict[str, Team]:
    # A team that exists (load_demo makes URO and CRC) is used as it is.
    teams = {team.code: team for team in Team.objects.filter(code__in=[s.code for s in specs])}
    for spec in specs:
        if spec.code not in teams:
            teams[spec.code] = services.team_create(
                code=spec.code,
                name=spec.name,
                tumour_site=spec.tumour_site,
                pkb_team_alias=f"RXX-{spec.code}",
                pv1_service_code=spec.pv1_service_code,
            )
    return teams


def _clinicians(
    specs: tuple[ScaleTeam, ...], teams: dict[str, Team], summary: ScaleSummary
) -> dict[str, User]:
    clinicians: dict[str, User] = {}
    hashed = ""
    for spec in specs:
        username = f"{USERNAME_PREFIX}{spec.code.lower()}"
        user = User.objects.filter(username=username).first()
        if user is None:
            if summary.password is None:
                # One new password for the logins this run creates, hashed once (hashing is
                # slow on purpose); the command prints it, nothing stores it in clear.
                summary.password = secrets.token_urlsafe(12)
                hashed = make_password(summary.password)
            first, last = spec.cns.split(",")[0].split()[-2:]
            user = User.objects.create(
                username=username,
                first_name=first,
                last_name=last,
                email=f"{username}@example.com",
                password=hashed,
            )
        services.membership_set(user=user, team=teams[spec.code], role=Role.CLINICIAN)
        clinicians[spec.code] = user
        summary.usernames.append(username)
    return clinicians


def _synthetic_pathway(code: str) -> Pathway:
    data = SYNTHETIC_PATHWAYS[code]
    validate(data["rule"]["rule_type"], data["rule"]["params"])
    pathway = Pathway.objects.create(
        code=code,
        name=data["name"],
        tumour_site=data["tumour_site"],
        treatment=data["treatment"],
        description=SYNTHETIC_SOURCE,
        active=False,
    )
    test_code, test_name, from_month, until_month, every_months = data["schedule"]
    ScheduleStep.objects.create(
        pathway=pathway,
        test_code=test_code,
        test_name=test_name,
        from_month=from_month,
        until_month=until_month,
        every_months=every_months,
    )
    Rule.objects.create(pathway=pathway, description=SYNTHETIC_SOURCE, **data["rule"])
    return pathway


def _templates(specs: tuple[ScaleTeam, ...]) -> dict[str, Template]:
    codes = [code for spec in specs for code, _ in spec.pathways]
    found = {p.code: p for p in Pathway.objects.filter(code__in=codes)}
    templates: dict[str, Template] = {}
    for code in codes:
        pathway = found.get(code)
        if pathway is None:
            if code not in SYNTHETIC_PATHWAYS:
                raise ValueError(f"The pathway {code} is missing: run the migrations first.")
            pathway = _synthetic_pathway(code)
        steps = list(pathway.schedule.order_by("test_code", "from_month", "id"))
        rules = list(pathway.rules.filter(active=True).order_by("test_code", "name", "id"))
        if not steps:
            raise ValueError(f"The pathway {code} must schedule a test.")
        # The synthetic histories are of one test a plan: the pathway's main test, the one most
        # of its rules read (PSA, CEA); its other tests and their rules are left out.
        counts = Counter(r.test_code.casefold() for r in rules)
        main = max(
            {s.test_code.casefold() for s in steps},
            key=lambda test: (counts[test], test == steps[0].test_code.casefold()),
        )
        steps = [s for s in steps if s.test_code.casefold() == main]
        rules = [r for r in rules if r.test_code.casefold() == main]
        templates[code] = Template(
            pathway=pathway,
            steps=steps,
            rules=rules,
            # What plan_start records, less the anchor date and team (added per plan).
            start_details={
                "pathway": pathway.code,
                "schedule": [
                    {
                        "test_code": s.test_code,
                        "from_month": s.from_month,
                        "until_month": s.until_month,
                        "every_months": s.every_months,
                    }
                    for s in steps
                ],
                "rules": [
                    {
                        "name": r.name,
                        "test_code": r.test_code,
                        "rule_type": r.rule_type,
                        "params": r.params,
                        "priority": r.priority,
                    }
                    for r in rules
                ],
            },
        )
    return templates


# ---------------------------------------------------------------------------
# Writing one chunk of patients
# ---------------------------------------------------------------------------
class _Writer:
    def __init__(self, ctx: Context, summary: ScaleSummary) -> None:
        self.ctx = ctx
        self.summary = summary
        self.results = Table(Result, RESULT_COLUMNS)
        self.observations = Table(Observation, OBSERVATION_COLUMNS)
        self.appointments = Table(Appointment, APPOINTMENT_COLUMNS)
        self.documents = Table(Document, DOCUMENT_COLUMNS)

    def _create(self, name: str, rows: list[Any]) -> None:
        MODELS[name]._default_manager.bulk_create(rows, batch_size=BATCH)
        self.summary.created[name] += len(rows)

    def _copy(self, name: str, table: Table, rows: list[tuple[Any, ...]]) -> list[int]:
        ids = table.write(rows)
        self.summary.created[name] += len(rows)
        return ids

    def write(self, built: list[Built]) -> None:
        self._create("patients", [b.patient for b in built])
        for b in built:
            b.caseload.patient_id = b.diagnosis.patient_id = b.plan.patient_id = b.patient.pk
        self._create("caseload entries", [b.caseload for b in built])
        self._create("diagnoses", [b.diagnosis for b in built])

        results = [(b.patient.pk, *r) for b in built for r, _ in b.results]
        result_ids = self._copy("results", self.results, results)
        observations = []
        position = 0
        for b in built:
            for _, rows in b.results:
                result_id = result_ids[position]
                position += 1
                observations += [(result_id, *o) for o in rows]
        self._copy("observations", self.observations, observations)
        appointments = [
            (b.patient.pk, b.caseload.team_id, *a) for b in built for a in b.appointments
        ]
        self._copy("appointments", self.appointments, appointments)
        documents = [(b.patient.pk, *d) for b in built for d in b.documents]
        self._copy("documents", self.documents, documents)

        plan_rules = self._plans(built)
        self._work_items(built, plan_rules)

    def _plans(self, built: list[Built]) -> list[list[Rule]]:
        """The plans with their copies of the pathway, as plan_start leaves them."""
        self._create("plans", [b.plan for b in built])
        steps: list[ScheduleStep] = []
        changes: list[PlanChange] = []
        plan_rules: list[list[Rule]] = []
        for b in built:
            plan_id = b.plan.pk
            b.plan_test.plan_id = plan_id
            step_copies, rule_copies = plan_services.pathway_copy(
                plan=b.plan, steps=b.template.steps, rules=b.template.rules
            )
            steps += step_copies
            plan_rules.append(rule_copies)
            changes.append(
                PlanChange(
                    plan_id=plan_id,
                    actor_id=b.plan.started_by_id,
                    action="started",
                    details={
                        **b.template.start_details,
                        "anchor_date": b.plan.anchor_date.isoformat(),
                        "team": b.spec.code,
                    },
                )
            )
        self._create("schedule steps", steps)
        self._create("rules", [rule for rules in plan_rules for rule in rules])
        self._create("plan tests", [b.plan_test for b in built])
        self._create("plan changes", changes)
        # auto_now_add stamped them now; a plan is started a couple of weeks after treatment.
        plan_ids = [b.plan.pk for b in built]
        FollowUpPlan.objects.filter(pk__in=plan_ids).update(
            started_at=Cast("anchor_date", output_field=DateTimeField())
            + Value(dt.timedelta(days=14, hours=10))
        )
        PlanChange.objects.filter(plan_id__in=plan_ids).update(
            at=Subquery(
                FollowUpPlan.objects.filter(pk=OuterRef("plan_id")).values("started_at")[:1]
            )
        )
        return plan_rules

    def _work_items(self, built: list[Built], plan_rules: list[list[Rule]]) -> None:
        items: list[WorkItem] = []
        raised: list[dt.datetime] = []
        for b, rules in zip(built, plan_rules, strict=True):
            if b.alert is not None:
                items.append(self._work_item(b, b.alert, rules))
                raised.append(b.alert.raised_at)
        if not items:
            return
        self._create("work items", items)
        events = [
            WorkItemEvent(
                work_item_id=item.pk,
                action="created",
                actor_id=self.ctx.system.pk,
                to_status=item.status,
                note=item.source,
            )
            for item in items
        ]
        self._create("work item events", events)
        # auto_now_add stamped these now too; the ages of the items are part of what a
        # worklist is measured on.
        for item, event, when in zip(items, events, raised, strict=True):
            item.created_at = item.updated_at = event.at = when
        WorkItem.objects.bulk_update(items, ["created_at", "updated_at"], batch_size=BATCH)
        WorkItemEvent.objects.bulk_update(events, ["at"], batch_size=BATCH)

    def _work_item(self, b: Built, alert: Alert, rules: list[Rule]) -> WorkItem:
        """The item monitoring (a breach) or the overdue scan would have raised, with the
        same title, source and dedupe key."""
        plan = b.plan
        common: dict[str, Any] = {
            "patient_id": b.patient.pk,
            "team_id": plan.team_id,
            "status": WorkItem.Status.OPEN,
            "created_by_id": self.ctx.system.pk,
        }
        if alert.kind == WorkItem.Kind.THRESHOLD_BREACH:
            rule = rules[alert.rule_index]
            first, newest = alert.evidence[0], alert.evidence[-1]
            return WorkItem(
                kind=alert.kind,
                priority=rule.priority,
                title=rule.name[:200],
                explanation=(
                    f"{b.spec.marker} was {first.text} ug/L on {first.on.day} {first.on:%b %Y} "
                    f"and {newest.text} ug/L on {newest.on.day} {newest.on:%b %Y}: {rule.name}."
                ),
                source=f"rule:{rule.pk}",
                dedupe_key=f"breach:{rule.pk}:{make_key(rule.rule_type, at(first.on, 9))}",
                details={
                    "rule": rule.name,
                    "rule_type": rule.rule_type,
                    "plan": str(plan.public_id),
                    "evaluated_until": alert.raised_at.isoformat(),
                    "evidence": [
                        {"at": at(m.on, 9).isoformat(), "value": m.text, "units": "ug/L"}
                        for m in alert.evidence
                    ],
                    "finding": {},
                },
                **common,
            )
        plan_test = b.plan_test
        due = alert.due or self.ctx.today
        late = (alert.raised_at.date() - due).days
        return WorkItem(
            kind=alert.kind,
            priority=WorkItem.Priority.NORMAL,
            due_date=alert.raised_at.date(),
            title=f"{plan_test.test_name} overdue",
            explanation=(
                f"{plan_test.test_name} was due on {due.day} {due:%b %Y} under the plan "
                f"'{b.template.pathway.name}' and no result has arrived {late} days later "
                f"(grace period {plan_test.grace_days} days)."
            ),
            source=f"plan_test:{plan_test.pk}",
            dedupe_key=f"overdue:{plan_test.pk}:{due.isoformat()}",
            details={"due_date": due.isoformat(), "plan": str(plan.public_id)},
            **common,
        )


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------
def load_scale(
    *,
    patients: int,
    years: int = 5,
    teams: int = len(TEAMS),
    seed: int = 1,
    append: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ScaleSummary:
    """Write ``patients`` synthetic patients spread evenly over the first ``teams`` of
    ``TEAMS``, in one transaction (all or nothing). A data generator for measurement, not a
    feed: bulk inserts, no services per row, no signals (so no monitoring, no audit log,
    nothing for PKB). Refuses (``ScaleDataExists``) when scale patients exist unless
    ``append``, which continues their numbering. Never for a database with real patients."""
    if patients < 1:
        raise ValueError("Give at least one patient.")
    if not 1 <= teams <= len(TEAMS):
        raise ValueError(f"Give between 1 and {len(TEAMS)} teams.")
    if years < 1:
        raise ValueError("Give at least one year of history.")
    specs = TEAMS[:teams]
    summary = ScaleSummary()
    with transaction.atomic():
        start = _next_index()
        if start and not append:
            raise ScaleDataExists(
                f"There are {scale_patients().count()} scale patients already; "
                "use --append to add more."
            )
        summary.first_index = start
        numbers = scale_nhs_numbers(start, patients)
        team_rows = _teams(specs)
        ctx = Context(
            today=timezone.localdate(),
            years=years,
            seed=seed,
            teams=team_rows,
            clinicians=_clinicians(specs, team_rows, summary),
            templates=_templates(specs),
            system=services.system_user(),
        )
        writer = _Writer(ctx, summary)
        for offset in range(0, patients, CHUNK):
            indexes = range(start + offset, start + min(patients, offset + CHUNK))
            writer.write(
                [
                    build_patient(index, numbers[index - start], specs[index % len(specs)], ctx)
                    for index in indexes
                ]
            )
            if progress is not None:
                progress(min(patients, offset + CHUNK), patients)
    return summary
