"""Monitoring cost: evaluating an incoming result for a patient with 200 prior results and
five rules, and the overdue scan over many plans, on PostgreSQL: wall time, CPU time of this
process and queries (CPU and queries do not move with the load on the machine).

    .venv/bin/python bench/monitoring.py [--prior 200] [--plans 50000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_url, fresh_database, percentile, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prior", type=int, default=200)
    parser.add_argument("--plans", type=int, default=50_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    url = database_url()
    fresh_database(url)
    setup_django(url)

    from django.contrib.auth.models import User
    from django.db import transaction

    from careplans.followup.services import monitoring
    from careplans.followup.services import plans as plan_services
    from careplans.models import FollowUpPlan, Pathway, PlanTest, Rule
    from rms import services
    from rms.models import CaseloadEntry, Observation, Patient, Result
    from rms.models.teams import Role
    from tests.factories import next_test_nhs_number

    team = services.team_create(code="URO", name="Urology", tumour_site="prostate")
    clinician = User.objects.create_user("bench.cns")
    services.membership_set(user=clinician, team=team, role=Role.CLINICIAN)
    pathway = Pathway.objects.get(code="prostate-post-prostatectomy")
    today = dt.datetime.now(dt.UTC).date()

    # One patient, 200 prior PSAs, a plan with five rules on PSA.
    patient = services.patient_create(
        actor=services.system_user(),
        teams=[team],
        nhs_number=next_test_nhs_number(),
        nhs_number_status="01",
        given_name="Bench",
        family_name="Patient",
        date_of_birth=dt.date(1950, 1, 1),
        sex="M",
    )
    plan = FollowUpPlan.objects.create(
        patient=patient,
        team=team,
        pathway=pathway,
        anchor_date=today - dt.timedelta(days=3650),
        started_by=clinician,
    )
    steps, _ = plan_services.pathway_copy(plan=plan, steps=pathway.schedule.all(), rules=())
    for step in steps:
        step.save()
    rules = [
        ("absolute_limit", {"threshold": "0.2", "confirmations": 2, "units": "ug/L"}),
        ("rise_above_nadir", {"rise": "2", "units": "ug/L"}),
        ("consecutive_rises", {"count": 3, "units": "ug/L"}),
        ("doubling_time", {"max_months": 12, "units": "ug/L"}),
        ("percentage_rise", {"percent": 50, "units": "ug/L"}),
    ]
    for rule_type, params in rules:
        Rule.objects.create(
            plan=plan, name=rule_type, test_code="PSA", rule_type=rule_type, params=params
        )
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=3000)
    for n in range(args.prior):
        result = Result.objects.create(
            patient=patient,
            category="lab",
            source_system="WINPATH",
            filler_order_number=f"P{n}",
            service_code="PSA",
            observed_at=start + dt.timedelta(days=14 * n),
        )
        Observation.objects.create(
            result=result,
            code="PSA",
            name="PSA",
            value_type="NM",
            value_text="0.05",
            value_numeric=Decimal("0.05") + Decimal(n % 7) / 1000,
            units="ug/L",
            observed_at=result.observed_at,
        )
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    # Statistics as a database in use has them (autovacuum analyses tables as they fill). On
    # tables filled a moment ago the planner takes each to hold one row, and reads the points
    # by looping over every result of the patient for each observation (4 ms of wall time).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    timings, cpu_timings = [], []
    cpu0 = time.process_time()
    for _ in range(args.samples):
        with transaction.atomic():
            started, started_cpu = time.perf_counter(), time.process_time()
            monitoring.evaluate_test(patient=patient, test_code="PSA", actor=clinician)
            timings.append(time.perf_counter() - started)
            cpu_timings.append(time.process_time() - started_cpu)
    evaluate_cpu_ms = (time.process_time() - cpu0) * 1000 / args.samples
    with transaction.atomic(), CaptureQueriesContext(connection) as evaluate_queries:
        monitoring.evaluate_test(patient=patient, test_code="PSA", actor=clinician)

    # The overdue scan over many plans: most not due, one in fifty overdue.
    people = Patient.objects.bulk_create(
        Patient(
            nhs_number=next_test_nhs_number(),
            nhs_number_status="01",
            given_name="Scan",
            family_name=f"Patient{n}",
            date_of_birth=dt.date(1950, 1, 1),
        )
        for n in range(args.plans)
    )
    CaseloadEntry.objects.bulk_create(
        CaseloadEntry(patient=p, team=team, started_on=today) for p in people
    )
    plans = FollowUpPlan.objects.bulk_create(
        FollowUpPlan(
            patient=p,
            team=team,
            pathway=pathway,
            anchor_date=today - dt.timedelta(days=400),
            started_by=clinician,
        )
        for p in people
    )
    PlanTest.objects.bulk_create(
        PlanTest(
            plan=p,
            test_code="PSA",
            test_name="PSA",
            next_due_date=today - dt.timedelta(days=60 if n % 50 == 0 else -30),
        )
        for n, p in enumerate(plans)
    )
    started, cpu0 = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as scan_queries:
        raised = monitoring.overdue_scan(today=today)
    scan_s, scan_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    started, cpu0 = time.perf_counter(), time.process_time()
    with CaptureQueriesContext(connection) as rescan_queries:
        again = monitoring.overdue_scan(today=today)
    rescan_s, rescan_cpu_s = time.perf_counter() - started, time.process_time() - cpu0
    print(
        json.dumps(
            {
                "benchmark": "monitoring",
                "results": [
                    {
                        "measure": f"evaluate one result, {args.prior} prior results, 5 rules",
                        "p50_ms": round(percentile(timings, 0.5) * 1000, 2),
                        "p95_ms": round(percentile(timings, 0.95) * 1000, 2),
                        "cpu_ms": round(evaluate_cpu_ms, 2),
                        "cpu_p50_ms": round(percentile(cpu_timings, 0.5) * 1000, 2),
                        "queries": len(evaluate_queries),
                    },
                    {
                        "measure": f"overdue scan, {args.plans} plans ({raised} overdue raised)",
                        "p50_ms": round(scan_s * 1000, 1),
                        "p95_ms": "",
                        "cpu_ms": round(scan_cpu_s * 1000, 1),
                        "queries": len(scan_queries),
                    },
                    {
                        "measure": f"overdue scan again ({again} raised: nothing twice)",
                        "p50_ms": round(rescan_s * 1000, 1),
                        "p95_ms": "",
                        "cpu_ms": round(rescan_cpu_s * 1000, 1),
                        "queries": len(rescan_queries),
                    },
                ],
            }
        )
    )


if __name__ == "__main__":
    main()
