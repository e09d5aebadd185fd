"""Follow-up plan rules: pure functions that judge one test's results against one rule.

Each rule takes ``Point``s (one test, one patient, only the results that count, in any order)
and keyword parameters, and returns a ``Finding``: breached or not, a sentence a clinician can
act on, the points it used, a key that identifies the breach, and the numbers behind it. No ORM
and no clock: the caller loads the points, stores the rule as JSON and turns findings (and
``UnitError``s) into work items, using ``Finding.key`` to raise each breach once. Several
rules over the same points share a ``Series`` of them (ordered and converted once).

How censored values count ("<0.01" is an undetectable result):
- absolute_limit: "<0.01" is never at or above a limit; ">100" is never at or below one.
- rise_above_nadir: "<0.01" is a nadir of 0.01 (the limit); a newest "<" value never breaches.
- consecutive_rises, doubling_time: censored values are left out of rises and fits.
- percentage_rise: a "<0.01" reference counts as 0.01; a newest "<" value never breaches.
"""

from __future__ import annotations

from careplans.rules.common import Series
from careplans.rules.dispatch import RULE_TYPES, evaluate, parameters, validate
from careplans.rules.kinetics import DAYS_PER_MONTH, doubling_time
from careplans.rules.limits import absolute_limit
from careplans.rules.nadir import rise_above_nadir
from careplans.rules.trends import consecutive_rises, percentage_rise
from careplans.rules.types import Finding, Point, RuleConfigError, UnitError
from careplans.rules.units import canonical_units, normalise_units

__all__ = [
    "DAYS_PER_MONTH",
    "RULE_TYPES",
    "Finding",
    "Point",
    "RuleConfigError",
    "Series",
    "UnitError",
    "absolute_limit",
    "canonical_units",
    "consecutive_rises",
    "doubling_time",
    "evaluate",
    "normalise_units",
    "parameters",
    "percentage_rise",
    "rise_above_nadir",
    "validate",
]
