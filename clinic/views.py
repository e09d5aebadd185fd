"""The caseload page: the patients of my teams on a follow-up plan, each with their plans,
latest followed result, next test due, open work items and PKB status. It reads every app, so
it lives here, on top of them all.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from clinic import reads
from clinic.presenters import CaseloadRow
from rms import access
from rms.web import signed_in_user as _user

PATIENTS_PER_PAGE = 50
SEARCH_MAX_LENGTH = 100


# --- the caseload --------------------------------------------------------------------------


@login_required
@never_cache
@require_GET
def caseload(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    search = request.GET.get("q", "").strip()[:SEARCH_MAX_LENGTH]
    sort = request.GET.get("sort", reads.CASELOAD_DEFAULT_SORT)
    if sort not in reads.CASELOAD_SORTS:
        sort = reads.CASELOAD_DEFAULT_SORT
    patients = reads.caseload(user=user, search=search, sort=sort)
    page = Paginator(patients, PATIENTS_PER_PAGE).get_page(request.GET.get("page"))
    on_page = list(page.object_list)
    access.patients_listed(
        request=request,
        patient_ids=[p.pk for p in on_page],
        action="caseload search" if search else "caseload",
    )
    last = reads.last_results(user=user, patient_ids=[p.pk for p in on_page])
    today = timezone.localdate()
    rows = [CaseloadRow(p, today=today, last=last.get(p.pk)) for p in on_page]
    columns = [
        # (label, sort key) for the sortable headers; the link flips the direction.
        ("name", "Patient"),
        ("due", "Next test due"),
        ("items", "Open items"),
    ]
    sort_links = {
        key: {
            "label": label,
            "sort": f"-{key}" if sort == key else key,
            "current": "ascending" if sort == key else ("descending" if sort == f"-{key}" else ""),
        }
        for key, label in columns
    }
    return render(
        request,
        "worklists/caseload.html",
        {"rows": rows, "page": page, "search": search, "sort": sort, "sort_links": sort_links},
    )
