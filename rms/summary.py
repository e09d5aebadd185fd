"""The summary at the top of a patient's record: what a clinician needs before scrolling.

The diagnosis (with its stage) and the latest tumour marker (PSA, CEA or CA-125, its change
since the value before, and a small line of its recent values) come from the core record here;
the plan, the open work items and PKB sharing come from the other apps' own fragments (loaded
by URL name: rms imports none of them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet
from django.utils import timezone

from rms.models import Diagnosis, Observation, Patient, Result
from rms.presenters import format_date

# The markers a follow-up in these teams watches, in the order one is chosen when a patient
# has values of several (the newest value wins; this breaks a tie on the same day).
MARKERS = ("PSA", "CEA", "CA125")
# Markers spanning orders of magnitude after treatment (8 before surgery, <0.01 after): the
# line is drawn on a log scale, as the trend chart draws them.
LOG_MARKERS = frozenset({"PSA"})
# Enough values for a trend at a glance; the chart has the whole history.
SPARK_POINTS = 8
# The sparkline's drawing box (the SVG viewBox); the page sizes it with CSS.
SPARK_WIDTH = 120
SPARK_HEIGHT = 32
SPARK_PAD = 3
# Diagnoses that are not the patient's current story.
NOT_CURRENT = (Diagnosis.Status.RESOLVED, Diagnosis.Status.ENTERED_IN_ERROR)


@dataclass(frozen=True)
class DiagnosisSummary:
    text: str
    stage: str
    diagnosed_on: str
    status: str
    others: int


def diagnosis_summary(diagnoses: Sequence[Diagnosis]) -> DiagnosisSummary | None:
    """The newest current diagnosis (not resolved, not entered in error), else the newest of
    any; with how many more the record holds. None with no diagnosis."""
    if not diagnoses:
        return None
    current = [d for d in diagnoses if d.status not in NOT_CURRENT] or list(diagnoses)
    chosen = max(current, key=lambda d: (d.diagnosed_on, d.pk))
    return DiagnosisSummary(
        text=chosen.text,
        stage=chosen.stage,
        diagnosed_on=format_date(chosen.diagnosed_on),
        status=chosen.get_status_display(),
        others=len(diagnoses) - 1,
    )


@dataclass(frozen=True)
class MarkerSummary:
    """The latest value of a tumour marker, its change from the value before, and the line of
    its recent values (``points``: an SVG polyline in a ``SPARK_WIDTH`` x ``SPARK_HEIGHT`` box)."""

    name: str
    latest: str
    latest_on: str
    previous: str
    trend: str  # "rising", "falling", "unchanged" or "" (a single value)
    points: str
    count: int
    first_on: str
    log_scale: bool

    @property
    def arrow(self) -> str:
        return {"rising": "↑", "falling": "↓", "unchanged": "→"}.get(self.trend, "")

    @property
    def trend_words(self) -> str:
        if not self.trend:
            return "the first value"
        if self.trend == "unchanged":
            return f"unchanged from {self.previous}"
        return f"{self.trend} from {self.previous}"

    @property
    def spark_label(self) -> str:
        scale = ", log scale" if self.log_scale else ""
        return (
            f"{self.name}: the last {self.count} values from {self.first_on} to "
            f"{self.latest_on}{scale}"
        )

    @property
    def view_box(self) -> str:
        return f"0 0 {SPARK_WIDTH} {SPARK_HEIGHT}"


def marker_observations(*, patient: Patient) -> QuerySet[Observation]:
    """The patient's numeric tumour-marker values that count (current, not withdrawn or
    cancelled), newest first; the caller slices what it needs."""
    return (
        Observation.objects.filter(
            result__patient=patient,
            code__in=[*MARKERS, *(m.lower() for m in MARKERS)],
            superseded_at__isnull=True,
            value_numeric__isnull=False,
        )
        .exclude(result__status__in=Result.WITHDRAWN)
        .exclude(status__in=[Observation.Status.CANCELLED, Observation.Status.DELETED])
        .order_by("-observed_at", "-id")
        .only("code", "name", "value_numeric", "comparator", "units", "observed_at")
    )


def _lab_text(observation: Observation) -> str:
    value = Decimal(observation.value_numeric or 0).normalize()
    number = f"{value:f}"
    return f"{observation.comparator}{number} {observation.units}".strip()


def _y(value: float, low: float, high: float) -> float:
    if high == low:
        return SPARK_HEIGHT / 2
    share = (value - low) / (high - low)
    return SPARK_PAD + (1 - share) * (SPARK_HEIGHT - 2 * SPARK_PAD)


def sparkline_points(values: Sequence[Decimal], *, log_scale: bool) -> str:
    """The polyline of ``values`` (oldest first), spread evenly across the box and scaled to
    their own range (a glance at the shape; the chart below has the axes)."""
    numbers = [float(v) for v in values]
    if log_scale and all(n > 0 for n in numbers):
        numbers = [math.log10(n) for n in numbers]
    low, high = min(numbers), max(numbers)
    step = (SPARK_WIDTH - 2 * SPARK_PAD) / max(len(numbers) - 1, 1)
    xs = [SPARK_PAD + i * step for i in range(len(numbers))]
    if len(numbers) == 1:
        xs = [SPARK_WIDTH / 2]
    return " ".join(f"{x:.1f},{_y(n, low, high):.1f}" for x, n in zip(xs, numbers, strict=True))


def marker_summary(observations: Sequence[Observation]) -> MarkerSummary | None:
    """The marker with the newest value among ``observations`` (newest first), with up to
    ``SPARK_POINTS`` of its values. None when there are none."""
    if not observations:
        return None
    code = observations[0].code.upper()
    same = [o for o in observations if o.code.upper() == code][:SPARK_POINTS]
    latest = same[0]
    previous = same[1] if len(same) > 1 else None
    trend = ""
    if previous is not None:
        now, before = Decimal(latest.value_numeric or 0), Decimal(previous.value_numeric or 0)
        trend = "rising" if now > before else "falling" if now < before else "unchanged"
    oldest_first = list(reversed(same))
    log_scale = code in LOG_MARKERS
    return MarkerSummary(
        name=latest.name or code,
        latest=_lab_text(latest),
        latest_on=format_date(timezone.localdate(latest.observed_at)),
        previous=_lab_text(previous) if previous is not None else "",
        trend=trend,
        points=sparkline_points(
            [Decimal(o.value_numeric or 0) for o in oldest_first], log_scale=log_scale
        ),
        count=len(same),
        first_on=format_date(timezone.localdate(oldest_first[0].observed_at)),
        log_scale=log_scale,
    )


def latest_marker(*, patient: Patient) -> MarkerSummary | None:
    """The summary's marker for ``patient``: one query, a bounded number of rows."""
    return marker_summary(list(marker_observations(patient=patient)[: SPARK_POINTS * len(MARKERS)]))
