"""Evaluating a rule stored as data: ``{"rule_type": "absolute_limit", "params": {...}}``."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from careplans.followup.rules.change import percent_change
from careplans.followup.rules.kinetics import doubling_time, velocity
from careplans.followup.rules.limits import absolute_limit
from careplans.followup.rules.nadir import castration_resistance, rise_above_nadir
from careplans.followup.rules.trends import consecutive_rises, percentage_rise
from careplans.followup.rules.types import Finding, Point, RuleConfigError

RULES: dict[str, Callable[..., Finding]] = {
    "absolute_limit": absolute_limit,
    "rise_above_nadir": rise_above_nadir,
    "consecutive_rises": consecutive_rises,
    "doubling_time": doubling_time,
    "percentage_rise": percentage_rise,
    "percent_change": percent_change,
    "velocity": velocity,
    "castration_resistance": castration_resistance,
}
# Keyword parameters the caller supplies, never stored with a rule: the points of other tests a
# rule also reads (castration resistance reads testosterone).
SUPPLIED = frozenset({"related"})
RULE_TYPES = tuple(RULES)


def parameters(rule_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """The (required, optional) parameter names of a rule type, read from its signature so the
    function stays the one place that defines them."""
    return _keyword_parameters(_rule(rule_type))


@functools.cache
def _keyword_parameters(rule: Callable[..., Finding]) -> tuple[frozenset[str], frozenset[str]]:
    # Read once per rule function: evaluate runs for every rule of every result filed.
    keyword_only = [
        parameter
        for parameter in inspect.signature(rule).parameters.values()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    keyword_only = [p for p in keyword_only if p.name not in SUPPLIED]
    required = frozenset(p.name for p in keyword_only if p.default is inspect.Parameter.empty)
    optional = frozenset(p.name for p in keyword_only if p.default is not inspect.Parameter.empty)
    return required, optional


def validate(rule_type: str, params: Any) -> None:
    """Raise RuleConfigError, naming the parameter, if ``params`` cannot configure
    ``rule_type``; checks values too, by evaluating the rule on no results."""
    evaluate(rule_type, (), params)


def related_tests(rule_type: str, params: Mapping[str, Any]) -> tuple[str, ...]:
    """The other tests a rule reads besides its own (upper case), e.g. testosterone."""
    if rule_type == "castration_resistance" and isinstance(params.get("castrate_test"), str):
        return (params["castrate_test"].upper(),)
    return ()


def evaluate(
    rule_type: str,
    points: Iterable[Point],
    params: Any,
    *,
    related: Mapping[str, Sequence[Point]] | None = None,
) -> Finding:
    """Run the rule named ``rule_type`` with ``params`` (as loaded from JSON) over ``points``.

    Raises RuleConfigError for an unknown rule type or a missing, unknown or bad parameter,
    and UnitError when a point's units cannot be compared with the rule's. To run several
    rules on the same points, pass one ``Series`` of them to each: it is put in order and
    converted to each units once, and every rule finds what it finds on the plain points.
    """
    rule = _rule(rule_type)
    if not isinstance(params, Mapping):
        raise RuleConfigError("params", f"must be an object of parameter names, not {params!r}")
    required, optional = _keyword_parameters(rule)
    known = required | optional
    for name in sorted(params, key=str):
        if not isinstance(name, str) or name not in known:
            allowed = ", ".join(sorted(known))
            raise RuleConfigError(
                str(name), f"is not a parameter of {rule_type} (expected {allowed})"
            )
    missing = sorted(required - set(params))
    if missing:
        raise RuleConfigError(missing[0], f"is required by {rule_type}")
    if rule_type in _TAKES_RELATED:
        return rule(points, **params, related=related or {})
    return rule(points, **params)


_TAKES_RELATED = frozenset({"castration_resistance"})


def _rule(rule_type: str) -> Callable[..., Finding]:
    try:
        return RULES[rule_type]
    except (KeyError, TypeError):
        raise RuleConfigError(
            "rule_type", f"must be one of {', '.join(RULE_TYPES)}, not {rule_type!r}"
        ) from None
