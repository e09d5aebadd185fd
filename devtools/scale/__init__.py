"""A large synthetic data set for measuring the product (``manage.py load_scale``).

A data generator for benchmarks and capacity tests, not a feed: patients go in with bulk
inserts (``bulk_create`` in batches, and COPY for the big tables on PostgreSQL), one chunk of
patients at a time, in one transaction; no service runs per row, so no signals are sent, no
monitoring rule runs, django-auditlog records nothing and nothing is queued for PKB. What it
writes is what the services would have left behind: each patient on one team's open caseload,
a diagnosis, up to ``years`` of results, a follow-up plan copied from a pathway with its test's
next due date, a few appointments and letters, and an open work item for about one patient in
twenty.

``specs`` says who is in it (teams, pathways, number ranges), ``patients`` builds one patient in
memory, ``tables`` writes many rows of one table, ``loader`` runs the whole. Each patient draws
from their own ``random.Random`` seeded with the run's seed and their index, so a run is
deterministic and ``--append`` adds the patients a larger first run would have made.
Everything is invented: NHS numbers from the 999 test range, MRNs ``SCALE0000001`` up, names,
addresses and phone numbers from the demo's fictional lists (``devtools.demo.people``), lab values
from the demo's series (``devtools.demo.values``).
"""

from __future__ import annotations

from devtools.scale.loader import (
    MODELS,
    ScaleDataExists,
    ScaleSummary,
    load_scale,
    scale_patients,
)
from devtools.scale.specs import MRN_PREFIX, TEAMS, USERNAME_PREFIX, ScaleTeam, scale_nhs_numbers

__all__ = [
    "MODELS",
    "MRN_PREFIX",
    "TEAMS",
    "USERNAME_PREFIX",
    "ScaleDataExists",
    "ScaleSummary",
    "ScaleTeam",
    "load_scale",
    "scale_nhs_numbers",
    "scale_patients",
]
