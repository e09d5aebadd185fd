"""The clinical reference corpus run through the product, twice for every case.

- Through the pure functions: the case's values read as the filing reads them
  (``rms.hl7.extract.read_value``), turned into points, bounded by the episode, and judged by the
  rules of the seeded pathway (``careplans.followup.rules.evaluate``) after each result arrives.
- End to end: each result sent as an HL7 v2 ORU^R01 to the inbound receiver (the path the MLLP
  listener takes), filed, monitored; then the work items, the due dates and the overdue scan.

Each case's expected outcome was worked out by hand from its cited source
(docs/clinical-safety/reference-cases.md); the code is never consulted for it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from careplans.followup import services as plan_services
from careplans.followup.rules import (
    Point,
    RuleConfigError,
    Series,
    evaluate,
    related_tests,
    unusable,
)
from careplans.followup.services import monitoring
from careplans.models import FollowUpPlan, Pathway, PlanTest, RaisedBreach, Rule, TreatmentEvent
from rms.hl7.extract import read_value
from rms.inbound import receive
from tests.clinical.corpus import Case, Result, load_cases
from tests.factories import PatientFactory
from worklists.models import WorkItem

LONDON = ZoneInfo("Europe/London")
CASES = load_cases()
REVIEW_PREFIXES = {
    "unreadable:": "unreadable_value",
    "units:": "unit_unreconcilable",
    "radiology:": "radiology_report",
}
RADIOLOGY_TESTS = {"CT_CAP", "MRI", "COLONOSCOPY"}


def _moment(result: Result) -> dt.datetime:
    at = result.at
    if isinstance(at, dt.datetime):
        return at if at.tzinfo else at.replace(tzinfo=LONDON)
    return dt.datetime.combine(at, dt.time(9, 0), tzinfo=LONDON)


def _ids(case: Case) -> str:
    return case.id


# --- through the pure functions ------------------------------------------------------------


def _points(case: Case, upto: int) -> tuple[dict[str, list[Point]], set[str]]:
    """The points of each test from the first ``upto`` results, and the review causes."""
    points: dict[str, list[Point]] = {}
    review: set[str] = set()
    for index, result in enumerate(case.results[:upto]):
        if result.test in RADIOLOGY_TESTS:
            continue
        read = read_value(result.value) if "\n" not in result.value else None
        if read is None:
            review.add("unreadable_value")
            continue
        points.setdefault(result.test, []).append(
            Point(
                at=_moment(result),
                value=read.number,
                comparator=read.comparator,
                units=result.units,
                label=result.test,
                ref=str(index),
            )
        )
    return points, review


def _episode_start(case: Case, upto: int) -> dt.date:
    last = _moment(case.results[upto - 1]).date() if upto else case.anchor
    events = [event.on for event in case.events if event.on <= max(last, case.anchor)]
    return max([case.anchor, *events])


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_the_rules_give_what_the_source_says(case: Case) -> None:
    rules = list(Pathway.objects.get(code=case.pathway).rules.filter(active=True))
    alerts: set[str] = set()
    awaiting: dict[str, dt.date | None] = {}
    review: set[str] = set()
    for upto in range(1, len(case.results) + 1):
        points, unreadable = _points(case, upto)
        review |= unreadable
        start = _episode_start(case, upto)
        since = dt.datetime.combine(start, dt.time.min, tzinfo=LONDON)
        awaiting = {}
        for rule in rules:
            own = Series(p for p in points.get(rule.test_code, []) if p.at >= since)
            params = dict(rule.params)
            if "from_day" in params:
                params["anchor_at"] = case.anchor.isoformat()
            elif rule.rule_type in ("rise_above_nadir", "castration_resistance"):
                params["anchor_at"] = start.isoformat()
            related = {code: points.get(code, []) for code in related_tests(rule.rule_type, params)}
            if unusable(own, params["units"]):
                review.add("unit_unreconcilable")
            try:
                finding = evaluate(rule.rule_type, own, params, related=related)
            except RuleConfigError as exc:  # pragma: no cover - the seeded rules are valid
                pytest.fail(f"{rule.name}: {exc}")
            if finding.breached:
                alerts.add(rule.code)
            if finding.awaiting:
                awaiting[rule.code] = finding.repeat_by
        if any(r.test in RADIOLOGY_TESTS for r in case.results[:upto]):
            review.add("radiology_report")

    assert sorted(alerts) == sorted(case.expect.alerts), case.reasoning
    assert sorted(awaiting) == sorted(case.expect.awaiting), case.reasoning
    if case.expect.repeat_by is not None:
        assert min(d for d in awaiting.values() if d) == case.expect.repeat_by, case.reasoning
    if case.expect.review is not None:
        assert sorted(review) == sorted(case.expect.review), case.reasoning


# --- end to end: HL7 in, work items and due dates out ----------------------------------------


def _messages(case: Case) -> Iterator[bytes]:
    stamp = lambda moment: moment.strftime("%Y%m%d%H%M")  # noqa: E731
    for index, result in enumerate(case.results):
        taken = _moment(result)
        control = f"{case.id}-{index}".upper().replace("_", "-")[:20]
        radiology = result.test in RADIOLOGY_TESTS
        sender = "CRIS" if radiology else "WINPATH"
        lines = []
        if radiology:
            text = result.report or result.value
            lines = [
                f"OBX|{n}|TX|{result.test}^{result.test}^LOCAL||{line}||||||F"
                for n, line in enumerate(text.split(". "), start=1)
            ]
        else:
            value_type = result.type or (
                "NM" if read_value(result.value) and result.value.strip()[0].isdigit() else "ST"
            )
            if value_type == "NM" and not (result.value.strip().replace(".", "", 1).isdigit()):
                value_type = "ST"
            lines = [
                f"OBX|1|{value_type}|{result.test}^{result.test}^WINPATH||{result.value}|"
                f"{result.units}||{result.flag or ''}|||{result.status or 'F'}|||{stamp(taken)}"
            ]
        segments = [
            f"MSH|^~\\&|{sender}|RXX01|RMS|RXX|{stamp(taken)}||ORU^R01^ORU_R01|{control}|P|2.4",
            "PID|1||9990000018^^^NHS^NH~RXX1234567^^^RXX^MR||TESTER^Alan^James^^Mr||19580214|M",
            f"OBR|1|ORD{index}|{case.id}-{index}|{result.test}^{result.test}^LOCAL|||"
            f"{stamp(taken)}||||||||||||||{stamp(taken)}||{'CT' if radiology else 'CH'}|F",
            *lines,
        ]
        yield ("\r".join(segments) + "\r").encode()


def _review_causes(plan: FollowUpPlan) -> set[str]:
    causes = set()
    for key in WorkItem.objects.filter(
        patient=plan.patient, kind=WorkItem.Kind.RESULT_TO_REVIEW
    ).values_list("dedupe_key", flat=True):
        for prefix, cause in REVIEW_PREFIXES.items():
            if key.startswith(prefix):
                causes.add(cause)
    return causes


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_results_over_hl7_raise_what_the_source_says(case: Case, team, clinician) -> None:
    patient = PatientFactory(
        nhs_number="9990000018",
        mrn="RXX1234567",
        family_name="Tester",
        date_of_birth=dt.date(1958, 2, 14),
        teams=[team],
    )
    plan = plan_services.plan_start(
        patient=patient,
        pathway=Pathway.objects.get(code=case.pathway),
        anchor_date=case.anchor,
        actor=clinician,
    )
    started = dt.datetime.combine(case.plan_started, dt.time(9, 0), tzinfo=LONDON)
    FollowUpPlan.objects.filter(pk=plan.pk).update(started_at=started)
    plan.refresh_from_db()
    for event in case.events:
        TreatmentEvent.objects.create(
            plan=plan, kind=event.kind, on=event.on, recorded_by=clinician
        )
    for plan_test in plan.tests.all():
        plan_services.plan_test_refresh(plan_test=plan_test)

    for raw in _messages(case):
        ack = receive(raw=raw, channel="mllp")
        assert b"MSA|AA|" in ack, ack

    raised = RaisedBreach.objects.filter(rule__plan=plan)
    alerts = {breach.rule.code for breach in raised.select_related("rule")}
    assert sorted(alerts) == sorted(case.expect.alerts), case.reasoning
    # The breaches of one result are one item: never more items than results with a breach.
    items = {breach.work_item_id for breach in raised}
    assert len(items) <= len(case.results)
    waiting = WorkItem.objects.filter(
        patient=patient, dedupe_key__startswith="awaiting:", status__in=WorkItem.ACTIVE
    )
    codes = {Rule.objects.get(pk=int(item.dedupe_key.split(":")[1])).code: item for item in waiting}
    assert sorted(codes) == sorted(case.expect.awaiting), case.reasoning
    if case.expect.repeat_by is not None:
        assert min(item.due_date for item in codes.values() if item.due_date) == (
            case.expect.repeat_by
        )
    if case.expect.review is not None:
        assert sorted(_review_causes(plan)) == sorted(case.expect.review), case.reasoning
    if case.expect.next_due is not None:
        due = {t.test_code: t.next_due_date for t in PlanTest.objects.filter(plan=plan)}
        for test, day in case.expect.next_due.items():
            assert due.get(test) == day, f"{test}: {case.reasoning}"
    if case.expect.overdue is not None:
        monitoring.overdue_scan(today=case.today)
        overdue = {
            PlanTest.objects.get(pk=int(item.dedupe_key.split(":")[1])).test_code
            for item in WorkItem.objects.filter(patient=patient, kind=WorkItem.Kind.OVERDUE_TEST)
        }
        assert sorted(overdue) == sorted(case.expect.overdue), case.reasoning


def test_the_corpus_is_large_enough_to_mean_something() -> None:
    assert len(CASES) >= 80
    assert Decimal(len({case.pathway for case in CASES})) >= 6
