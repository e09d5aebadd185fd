"""Page times at scale: a fresh PostgreSQL database loaded with ``manage.py load_scale``, then
the median and p95 of 30 requests (after one warm-up) to the worklist, the caseload, the
patient page (30 different patients of the team) and the API worklist, as the URO clinician,
through Django's test client in this process (no web server, no network). Also the number of
SQL queries one request of each page makes. A page whose URL name does not reverse yet is
reported as "not built".

    .venv/bin/python bench/pages.py [--patients 50000] [--requests 30]
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import database_url, fresh_database, percentile, setup_django


def measure(client: Any, paths: list[str]) -> dict[str, Any]:
    """Time one GET of each path (cycling through ``paths``), after one warm-up request, and
    count the queries of one more request of the first path."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    warm = client.get(paths[0])
    if warm.status_code != 200:
        return {"p50_ms": None, "p95_ms": None, "queries": None, "status": warm.status_code}
    timings = []
    statuses = set()
    for path in paths:
        started = time.perf_counter()
        response = client.get(path)
        timings.append(time.perf_counter() - started)
        statuses.add(response.status_code)
    with CaptureQueriesContext(connection) as queries:
        client.get(paths[0])
    return {
        "p50_ms": round(percentile(timings, 0.50) * 1000, 1),
        "p95_ms": round(percentile(timings, 0.95) * 1000, 1),
        "queries": len(queries.captured_queries),
        "status": ",".join(str(s) for s in sorted(statuses)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    url = database_url()
    fresh_database(url)
    setup_django(url)

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse

    from rms import selectors

    started = time.perf_counter()
    call_command("load_scale", patients=args.patients, stdout=io.StringIO())
    load_seconds = time.perf_counter() - started
    # Statistics for the planner after the bulk load, as autovacuum would soon gather them.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    user = User.objects.get(username="scale.uro")
    # SERVER_NAME: a host ALLOWED_HOSTS accepts with DEBUG off (the default is "testserver").
    # Exceptions become 500s in the figures rather than ending the run.
    client = Client(SERVER_NAME="localhost", raise_request_exception=False)
    client.force_login(user)
    # Signed in with a second factor, as production requires (RMS_REQUIRE_2FA): the session
    # holds the verified device, as django_otp.login leaves it after a code is accepted.
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rms.accounts import services as accounts

    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    session = client.session
    now = time.time()
    session[accounts.SIGNED_IN_AT] = now
    session[accounts.SEEN_AT] = now
    session[accounts.GENERATION] = accounts.session_generation(user_id=user.pk)
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    ids = list(selectors.patient_list(user=user).values_list("public_id", flat=True))
    chosen = random.Random(1).sample(ids, min(args.requests, len(ids)))

    pages = [
        ("worklist", "worklists:list"),
        ("caseload", "worklists:caseload"),
        ("patient", "rms:patient_detail"),
        ("api worklist", "api:worklist"),
    ]
    results: list[dict[str, Any]] = []
    for page, name in pages:
        try:
            if name == "rms:patient_detail":
                paths = [reverse(name, args=[public_id]) for public_id in chosen]
            else:
                paths = [reverse(name)] * args.requests
        except NoReverseMatch:
            missing = {"p50_ms": None, "p95_ms": None, "queries": None, "status": "not built"}
            results.append({"page": page, **missing})
            continue
        results.append({"page": page, **measure(client, paths)})
    # Deep pages, where offset paging reads and skips every row before the page.
    last_page = max(1, -(-len(ids) // 50))
    deep = [
        ("caseload, last page", f"{reverse('worklists:caseload')}?page={last_page}"),
        ("api patients, first 50", f"{reverse('api:patient-list')}?limit=50"),
        (
            "api patients, last 50",
            f"{reverse('api:patient-list')}?limit=50&offset={max(0, len(ids) - 50)}",
        ),
    ]
    for page, path in deep:
        results.append({"page": page, **measure(client, [path] * args.requests)})
    if any(row["status"] != "200" for row in results):
        raise SystemExit(f"a page did not answer 200: {results}")
    print(
        json.dumps(
            {
                "benchmark": "pages",
                "patients": args.patients,
                "load_scale_s": round(load_seconds, 1),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
