"""Follow-up plan rules: pure functions that judge one test's results against one rule.

Each rule takes ``Point``s (one test, one patient, only the results that count, in any order)
and keyword parameters, and returns a ``Finding``: breached or not, a sentence a clinician can
act on, the points it used, a key that identifies the breach, and the numbers behind it. No ORM
and no clock: the caller loads the points, stores the rule as JSON and turns findings (and
``UnitError``s) into work items, using ``Finding.key`` to raise each breach once. Several
rules over the same points share a ``Series`` of them (ordered and converted once).

Results taken at one time are one sample (a duplicate report never confirms itself or makes a
rise). A point whose units cannot be converted to a rule's is set aside (``unusable`` names
each, for the caller to raise), and the rule judges the rest: one bad point never silences a
rule.

How censored values count ("<0.01" is an undetectable result):
- absolute_limit: "<0.01" is never at or above a limit; ">100" is never at or below one.
- rise_above_nadir: "<0.01" is a nadir of 0.01 (the limit); a "<" value never breaches.
- consecutive_rises: "<0.01" after a measurable value is a fall that ends a run.
- doubling_time, velocity: censored values are left out of the fits.
- percentage_rise: a "<0.01" reference counts as 0.01; a newest "<" value never breaches.
"""

from __future__ import annotations

from careplans.followup.rules.common import Series, Unusable, unusable
from careplans.followup.rules.dispatch import (
    RULE_TYPES,
    evaluate,
    parameters,
    related_tests,
    validate,
)
from careplans.followup.rules.kinetics import DAYS_PER_MONTH, doubling_time, velocity
from careplans.followup.rules.limits import absolute_limit
from careplans.followup.rules.nadir import castration_resistance, rise_above_nadir
from careplans.followup.rules.trends import consecutive_rises, percentage_rise
from careplans.followup.rules.types import Finding, Point, RuleConfigError, UnitError
from careplans.followup.rules.units import canonical_units, normalise_units

__all__ = [
    "DAYS_PER_MONTH",
    "RULE_TYPES",
    "Finding",
    "Point",
    "RuleConfigError",
    "Series",
    "UnitError",
    "Unusable",
    "absolute_limit",
    "canonical_units",
    "castration_resistance",
    "consecutive_rises",
    "doubling_time",
    "evaluate",
    "normalise_units",
    "parameters",
    "percentage_rise",
    "related_tests",
    "rise_above_nadir",
    "unusable",
    "validate",
    "velocity",
]
