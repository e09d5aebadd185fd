"""Trend charts of a patient's tests: the values, the plan's limits drawn as lines, the nadir
marked, PSA on a log scale.

Plain data, no HTML: ``patient_charts`` loads what a chart needs and ``TrendChart.as_data``
gives the JSON the page's script draws (static/js/trend-chart.js, with Chart.js). The lines are
worked out with the same pieces the monitoring rules use (``careplans.followup.rules``: units,
censored values, the anchor), so a line sits where the rule would raise a work item.

What is drawn, and why:
- the values of every result of the test that counts (``selectors.counting_observations``),
  also those from before the plan's anchor date: the drop after treatment is part of the story;
- values in other units are converted to the chart's units (the rule's units where there is a
  rule); a value whose units cannot be converted is left out and the chart says how many were;
- an absolute limit is a line at its threshold;
- a rise above nadir is a line at nadir + rise, the nadir being the lowest value since the
  anchor (the earliest of equal values; an undetectable "<0.01" counts as 0.01, as the rule
  takes it). It is the line the *next* result is judged against, so a newest value that is
  itself the lowest becomes the nadir;
- only an active plan's active rules draw lines: a paused plan's rules are not being run;
- PSA spans several orders of magnitude after treatment (8 before surgery, <0.01 after), so it
  is drawn on a log scale, unless a value is zero or negative, which a log scale cannot show.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils.text import slugify

from careplans.followup import selectors
from careplans.followup.presenters import rule_in_words
from careplans.followup.rules import Point, RuleConfigError, UnitError, normalise_units
from careplans.followup.rules.common import format_date, format_number, readings, require_anchor
from careplans.models import FollowUpPlan, Rule, RuleType
from rms.models import Observation, Patient, Result

# Tests drawn on a logarithmic scale (matched without regard to case).
LOG_SCALE_TESTS = frozenset({"PSA"})
OPEN = (FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED)


@dataclass(frozen=True)
class ChartPoint:
    """One value on a chart: ``value`` in the chart's units, ``text`` as the lab sent it."""

    at: dt.datetime
    value: Decimal
    comparator: str
    units: str
    text: str

    @property
    def censored(self) -> bool:
        return self.comparator != ""


@dataclass(frozen=True)
class ThresholdLine:
    """A horizontal line at ``value`` (in the chart's units) drawn for one rule."""

    label: str
    value: Decimal
    rule: str
    rule_type: str


@dataclass(frozen=True)
class SeverityBand:
    """A shaded band behind a score chart: the scores ``low`` to ``high`` (both included, as
    the instrument's paper gives them) and the band's name ("Moderate")."""

    label: str
    low: Decimal
    high: Decimal

    @property
    def words(self) -> str:
        return f"{format_number(self.low)}-{format_number(self.high)} {self.label.lower()}"


@dataclass(frozen=True)
class TrendChart:
    code: str
    name: str
    units: str
    log_scale: bool
    points: tuple[ChartPoint, ...]
    thresholds: tuple[ThresholdLine, ...] = ()
    nadir: ChartPoint | None = None
    # Rules of the test that draw no line (trends, doubling time), in words.
    other_rules: tuple[str, ...] = ()
    # Why a rule's line could not be drawn (units, missing values), in words.
    notes: tuple[str, ...] = ()
    # Values left out because their units could not be converted to the chart's.
    left_out: int = 0
    linear_reason: str = field(default="")
    # A fixed value axis (a questionnaire score's own range, PHQ-9 0-27): never auto-scaled, so
    # a change from 9 to 11 does not look like a cliff. None: fitted to the values.
    y_min: Decimal | None = None
    y_max: Decimal | None = None
    # The instrument's severity bands, lowest first, shaded behind the scores.
    bands: tuple[SeverityBand, ...] = ()

    @property
    def element_id(self) -> str:
        """The id of the chart's JSON island (unique within a page: one chart per test)."""
        return f"trend-data-{slugify(self.code) or 'test'}"

    @property
    def scale(self) -> str:
        return "logarithmic" if self.log_scale else "linear"

    @property
    def nadir_label(self) -> str:
        if self.nadir is None:
            return ""
        return f"Nadir {self.nadir.text} on {format_date(self.nadir.at)}"

    @property
    def description(self) -> str:
        """The chart in words, for its ``aria-label`` and for readers without the picture."""
        if not self.points:
            return f"{self.name}: no results to draw."
        newest = self.points[-1]
        words = [
            f"{self.name}: {len(self.points)} results from {format_date(self.points[0].at)} "
            f"to {format_date(newest.at)}, the latest {newest.text}"
        ]
        words += [line.label for line in self.thresholds]
        if self.nadir is not None:
            words.append(self.nadir_label)
        if self.bands:
            words.append(self.bands_in_words)
        return "; ".join(words) + "."

    @property
    def bands_in_words(self) -> str:
        return "Severity bands: " + ", ".join(band.words for band in self.bands)

    def as_data(self) -> dict[str, Any]:
        """What the page's script draws: times as milliseconds since 1970 (a linear x axis, so
        Chart.js needs no date adapter), values as numbers in the chart's units and as the lab
        sent them (for the tooltip)."""
        xs = [_millis(p.at) for p in self.points]
        x_min, x_max = (min(xs), max(xs)) if xs else (0, 0)
        if x_min == x_max:
            # One result: widen the axis so a threshold line still has a length.
            x_min, x_max = x_min - _FORTNIGHT_MS, x_max + _FORTNIGHT_MS
        return {
            "code": self.code,
            "title": self.name,
            "units": self.units,
            "scale": self.scale,
            "x_min": x_min,
            "x_max": x_max,
            "y_min": None if self.y_min is None else float(self.y_min),
            "y_max": None if self.y_max is None else float(self.y_max),
            "points": [
                {
                    "x": _millis(p.at),
                    "y": float(p.value),
                    "label": p.text,
                    "date": format_date(p.at),
                    "censored": p.censored,
                }
                for p in self.points
            ],
            "thresholds": [
                {"label": line.label, "y": float(line.value), "rule": line.rule}
                for line in self.thresholds
            ],
            "bands": self._band_data(),
            "nadir": (
                {
                    "x": _millis(self.nadir.at),
                    "y": float(self.nadir.value),
                    "label": self.nadir_label,
                }
                if self.nadir is not None
                else None
            ),
        }

    def _band_data(self) -> list[dict[str, Any]]:
        """Each band as the stretch of axis it shades: scores are whole numbers, so a band's
        edges sit half-way between its last score and the next band's first (a 5 on PHQ-9 is
        inside "mild", not on the line between minimal and mild); the outer edges are the
        axis' own ends."""
        half = Decimal("0.5")
        rows = []
        for band in self.bands:
            low, high = band.low - half, band.high + half
            if self.y_min is not None:
                low = max(low, self.y_min)
            if self.y_max is not None:
                high = min(high, self.y_max)
            rows.append({"label": band.label, "from": float(low), "to": float(high)})
        return rows


_FORTNIGHT_MS = 14 * 24 * 3600 * 1000


def _millis(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def _lab_text(observation: Observation) -> str:
    value = format_number(Decimal(observation.value_numeric or 0))
    text = f"{observation.comparator}{value}"
    return f"{text} {observation.units}".strip()


@dataclass
class _Test:
    code: str
    name: str
    rules: list[tuple[Rule, FollowUpPlan]] = field(default_factory=list)


def _tests_of(plans: Sequence[FollowUpPlan]) -> dict[str, _Test]:
    """The tests the open plans schedule or check, by code (case-insensitive), in plan order."""
    tests: dict[str, _Test] = {}
    for plan in plans:
        for plan_test in plan.tests.all():
            key = plan_test.test_code.casefold()
            tests.setdefault(key, _Test(plan_test.test_code, plan_test.test_name))
        for rule in plan.rules.all():
            key = rule.test_code.casefold()
            test = tests.setdefault(key, _Test(rule.test_code, rule.test_code))
            if plan.status == FollowUpPlan.Status.ACTIVE and rule.active:
                test.rules.append((rule, plan))
    return tests


def _numeric_tests(patient: Patient) -> dict[str, _Test]:
    """With no open plan: every test the patient has numeric values of, newest first."""
    rows = (
        Observation.objects.filter(
            result__patient=patient, superseded_at__isnull=True, value_numeric__isnull=False
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .order_by("-observed_at", "-id")
        .values_list("code", "name")
    )
    tests: dict[str, _Test] = {}
    for code, name in rows:
        tests.setdefault(code.casefold(), _Test(code, name or code))
    return tests


def _chart_units(test: _Test, observations: Sequence[Observation]) -> str:
    """The rule's units when a rule names them (lines and values then compare as the rule
    does), else the units most of the values came in."""
    for rule, _plan in test.rules:
        units = rule.params.get("units") if isinstance(rule.params, Mapping) else None
        if isinstance(units, str) and units.strip():
            return units
    counted = Counter(o.units for o in observations if o.units.strip())
    return counted.most_common(1)[0][0] if counted else ""


def _in_units(value: Decimal, units: str, target: str) -> Decimal:
    if not target:
        return value
    return normalise_units(value, units, target)


def _point(observation: Observation) -> Point:
    return Point(
        at=observation.observed_at,
        value=Decimal(observation.value_numeric or 0).normalize(),
        comparator=observation.comparator,
        units=observation.units,
        label=observation.name,
    )


_NOT_A_LINE = ("from_day", "until_day", "failure_within_months")


def _limit_line(rule: Rule, chart_units: str) -> ThresholdLine:
    params = rule.params
    threshold = Decimal(str(params["threshold"]).strip())
    value = _in_units(threshold, str(params.get("units", "")), chart_units)
    label = f"Threshold {format_number(value)} {chart_units}".strip()
    if params.get("direction") == "below":
        label += " (lower limit)"
    return ThresholdLine(label=label, value=value, rule=rule.name, rule_type=rule.rule_type)


def _nadir_line(
    rule: Rule,
    plan: FollowUpPlan,
    observations: Sequence[Observation],
    chart_units: str,
) -> tuple[ThresholdLine | None, Observation | None, str]:
    """The nadir + rise line, the observation that is the nadir, or why there is none."""
    params = rule.params
    rule_units = str(params.get("units", ""))
    rise = Decimal(str(params["rise"]).strip())
    # Like monitoring: with no anchor on the rule, the nadir is looked for from the plan's.
    anchor = require_anchor("anchor_at", params.get("anchor_at") or plan.anchor_date)
    points = [_point(obs) for obs in observations]
    # readings() hands back the same Point objects, so identity finds each one's observation.
    by_point = {id(point): obs for point, obs in zip(points, observations, strict=True)}
    since = readings(points, rule_units, since=anchor)
    if not since:
        return None, None, f"{rule.name}: no results since the anchor date, so no nadir yet."
    # min() keeps the first of equal values and ``since`` is oldest first: the earliest nadir.
    nadir = min(since, key=lambda item: item.value)
    threshold = _in_units(nadir.value + rise, rule_units, chart_units)
    label = (
        f"Threshold {format_number(threshold)} {chart_units} "
        f"(nadir {format_number(nadir.value)} + {format_number(rise)})"
    ).replace("  ", " ")
    line = ThresholdLine(label=label, value=threshold, rule=rule.name, rule_type=rule.rule_type)
    return line, by_point[id(nadir.point)], ""


def _chart(test: _Test, observations: Sequence[Observation]) -> TrendChart:
    units = _chart_units(test, observations)
    points: list[ChartPoint] = []
    nadir_of: dict[int, ChartPoint] = {}
    left_out = 0
    for obs in observations:
        try:
            value = _in_units(Decimal(obs.value_numeric or 0), obs.units, units)
        except UnitError:
            left_out += 1
            continue
        point = ChartPoint(
            at=obs.observed_at,
            value=value,
            comparator=obs.comparator,
            units=obs.units,
            text=_lab_text(obs),
        )
        points.append(point)
        nadir_of[obs.pk] = point

    thresholds: list[ThresholdLine] = []
    notes: list[str] = []
    other_rules: list[str] = []
    nadir: ChartPoint | None = None
    for rule, plan in test.rules:
        try:
            # A limit that holds only in a window after treatment (PSA persistence), and an
            # early-failure rule drawn already as its plain rise, are said in words, not lines.
            windowed = any(rule.params.get(name) is not None for name in _NOT_A_LINE)
            if rule.rule_type == RuleType.ABSOLUTE_LIMIT and not windowed:
                thresholds.append(_limit_line(rule, units))
            elif rule.rule_type == RuleType.RISE_ABOVE_NADIR and not windowed:
                line, nadir_obs, why = _nadir_line(rule, plan, observations, units)
                if line is not None:
                    thresholds.append(line)
                if nadir is None and nadir_obs is not None:
                    nadir = nadir_of.get(nadir_obs.pk)
                if why:
                    notes.append(why)
            else:
                other_rules.append(rule_in_words(rule))
        except (UnitError, RuleConfigError, KeyError, ArithmeticError, ValueError) as exc:
            # A rule that cannot be drawn is said so, never drawn somewhere it does not mean.
            notes.append(f"{rule.name}: the line cannot be drawn ({exc}).")

    linear_reason = ""
    log_scale = test.code.upper() in LOG_SCALE_TESTS
    values = [p.value for p in points] + [line.value for line in thresholds]
    if log_scale and any(v <= 0 for v in values):
        log_scale = False
        linear_reason = "Drawn on a linear scale: a value of zero cannot be shown on a log scale."
    return TrendChart(
        code=test.code,
        name=test.name,
        units=units,
        log_scale=log_scale,
        points=tuple(points),
        thresholds=tuple(thresholds),
        nadir=nadir,
        other_rules=tuple(other_rules),
        notes=tuple(notes),
        left_out=left_out,
        linear_reason=linear_reason,
    )


def patient_charts(*, patient: Patient) -> list[TrendChart]:
    """One chart per test of the patient's open plans (every numeric test when they have no
    open plan), with the active plans' limits drawn. Reads only; a query per test charted."""
    plans = list(selectors.plan_list(patient=patient).filter(status__in=OPEN))
    tests = _tests_of(plans) if plans else _numeric_tests(patient)
    charts = []
    for test in tests.values():
        observations = list(
            selectors.counting_observations(patient=patient, test_code=test.code).only(
                "id", "observed_at", "value_numeric", "comparator", "units", "name", "code"
            )
        )
        charts.append(_chart(test, observations))
    return charts
