"""``manage.py demo_plans``: put the demo patients on their follow-up plans (``make demo``).

Run after ``load_demo``: each demo patient gets the pathway of their treatment, anchored on
the treatment date, and their history is checked against it, so the worklist shows the breaches
and overdue tests a team would have. Idempotent; refuses to run in production.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from careplans.followup import services
from careplans.followup.services import monitoring
from careplans.models import Pathway
from devtools.demo.history import COLON, RECTUM, RP, RT, build_plan
from rms import selectors

PATHWAYS = {
    RP: "prostate-post-prostatectomy",
    RT: "prostate-post-radiotherapy",
    COLON: "colorectal-cea",
    RECTUM: "colorectal-cea",
}
CLINICIANS = {"URO": "cns.uro", "CRC": "cns.crc"}


class Command(BaseCommand):
    help = "Start the demo patients' follow-up plans and check their histories against them."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo plans are not made with DJANGO_ENV=production.")
        started = 0
        for planned in build_plan(timezone.localdate()):
            clinician = User.objects.filter(username=CLINICIANS.get(planned.team_code, "")).first()
            if clinician is None:
                raise CommandError("No demo data: run `manage.py load_demo` first.")
            number = planned.demographics["nhs_number"]
            patient = selectors.patient_list(user=clinician, nhs_number_exact=number).first()
            if patient is None:
                continue
            pathway = Pathway.objects.get(code=PATHWAYS[planned.pathway])
            plan = services.plan_start(
                patient=patient, pathway=pathway, anchor_date=planned.treated_on, actor=clinician
            )
            started += 1
            for plan_test in plan.tests.all():
                monitoring.evaluate_test(patient=patient, test_code=plan_test.test_code)
        raised = monitoring.overdue_scan()
        self.stdout.write(
            f"Demo follow-up plans: {started} patients on a plan; {raised} overdue tests raised."
        )
