"""The trend charts of a patient's tests, as an HTML fragment the patient record and the
virtual review load with htmx (``hx-get`` on load), and as a page of its own for a browser
without JavaScript (the summary in words under each chart needs no script).

The patient is opened with ``rms.access.patient_for_request`` (scoped and logged; another
team's patient is a 404). Reading only: every member of the patient's teams may see the charts.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from careplans.followup.charts import patient_charts
from rms import access
from rms.presenters import PatientPresenter

FRAGMENT_TEMPLATE = "careplans/charts.html"
PAGE_TEMPLATE = "panel_page.html"


@login_required
@never_cache
@require_GET
def patient_charts_view(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    patient = access.patient_for_request(request=request, public_id=public_id, action="charts")
    context = {
        "patient": PatientPresenter(patient, today=timezone.localdate(), teams=()),
        "charts": patient_charts(patient=patient),
    }
    if getattr(request, "htmx", False):
        return render(request, FRAGMENT_TEMPLATE, context)
    return render(
        request,
        PAGE_TEMPLATE,
        {
            **context,
            "partial_template": FRAGMENT_TEMPLATE,
            "page_title": "Trends",
            "with_charts": True,
        },
    )
