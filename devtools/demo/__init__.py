"""Synthetic demo data for a new user trying the product (``manage.py load_demo``).

``people`` says who is in the demo (teams, logins, fictional demographics); ``history``
builds each patient's follow-up as plain data (``plans``), with lab values from ``values``
and report and letter text from ``texts``; ``loader`` writes whatever is missing.
"""

from __future__ import annotations

from devtools.demo.history import build_plan
from devtools.demo.loader import DemoSummary, load_demo
from devtools.demo.people import DEMO_PASSWORD, DEMO_URL, TEAMS, USERS

__all__ = [
    "DEMO_PASSWORD",
    "DEMO_URL",
    "TEAMS",
    "USERS",
    "DemoSummary",
    "build_plan",
    "load_demo",
]
