"""Post-prostatectomy biochemical recurrence: PSA >= 0.2 ng/mL confirmed by a second >= 0.2."""

from __future__ import annotations

import random
from decimal import Decimal

from careplans.followup.rules import Point, absolute_limit
from tests.careplans.followup.rules.series import on, psa

# Radical prostatectomy in Nov 2025: undetectable, then a slow rise.
AFTER_PROSTATECTOMY = [
    psa("6 Jan 2026", "<0.01"),
    psa("7 Apr 2026", "<0.01"),
    psa("5 May 2026", "0.05"),
]
FIRST_OVER = psa("2 Aug 2026", "0.21")
CONFIRMING = psa("10 Nov 2026", "0.24")


def recurrence(points: list[Point]):  # type: ignore[no-untyped-def]
    return absolute_limit(points, threshold=Decimal("0.2"), confirmations=2, units="ng/mL")


def test_a_single_value_over_the_line_is_awaiting_confirmation_not_a_breach() -> None:
    finding = recurrence([*AFTER_PROSTATECTOMY, FIRST_OVER])

    # Not a breach (AUA 2007 needs a second value >= 0.2), but the clinician is told: the
    # finding awaits confirmation and its key names the value awaiting it.
    assert not finding.breached
    assert finding.awaiting
    assert finding.key == "absolute_limit/2026-08-02T08:00:00+00:00"
    assert finding.explanation == (
        "PSA 0.21 ng/mL on 2 Aug 2026 is at or above 0.2, awaiting confirmation by "
        "1 more result at or above 0.2 on a separate sample."
    )
    assert finding.evidence == (FIRST_OVER,)


def test_a_confirmed_rise_over_the_line_is_a_breach() -> None:
    finding = recurrence([*AFTER_PROSTATECTOMY, FIRST_OVER, CONFIRMING])

    assert finding.breached
    assert finding.rule == "absolute_limit"
    assert finding.explanation == (
        "PSA 0.24 ng/mL on 10 Nov 2026 is at or above 0.2, confirmed by 0.21 on 2 Aug 2026."
    )
    assert finding.evidence == (FIRST_OVER, CONFIRMING)
    # 09:00 BST on 2 Aug is 08:00 UTC.
    assert finding.key == "absolute_limit/2026-08-02T08:00:00+00:00"
    assert finding.details["threshold"] == "0.2"
    assert finding.details["run_length"] == 2


def test_a_further_high_value_continues_the_same_breach() -> None:
    later = psa("9 Feb 2027", "0.31")

    first = recurrence([*AFTER_PROSTATECTOMY, FIRST_OVER, CONFIRMING])
    again = recurrence([*AFTER_PROSTATECTOMY, FIRST_OVER, CONFIRMING, later])

    assert again.breached
    assert again.key == first.key
    assert again.explanation == (
        "PSA 0.31 ng/mL on 9 Feb 2027 is at or above 0.2, confirmed by 0.24 on 10 Nov 2026; "
        "at or above 0.2 since 2 Aug 2026."
    )


def test_a_value_back_under_the_line_breaks_the_run() -> None:
    series = [*AFTER_PROSTATECTOMY, FIRST_OVER, psa("1 Sep 2026", "0.18"), CONFIRMING]

    finding = recurrence(series)

    assert not finding.breached
    assert "awaiting confirmation" in finding.explanation


def test_undetectable_values_never_breach() -> None:
    series = [psa("6 Jan 2026", "<0.01"), psa("7 Apr 2026", "<0.01"), psa("6 Jul 2026", "<0.01")]

    finding = absolute_limit(series, threshold="0.2", units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "PSA <0.01 ng/mL on 6 Jul 2026 is reported only as below 0.01, so it does not count as "
        "at or above 0.2."
    )


def test_a_detection_limit_above_the_threshold_still_never_breaches() -> None:
    # An insensitive assay's "<0.5" might hide a 0.3; it does not show one.
    finding = absolute_limit([psa("6 Jul 2026", "<0.5")], threshold="0.2", units="ng/mL")

    assert not finding.breached


def test_a_value_exactly_at_the_threshold_counts_only_when_inclusive() -> None:
    series = [psa("6 Jul 2026", "0.2")]

    assert absolute_limit(series, threshold="0.2", units="ng/mL").breached
    exclusive = absolute_limit(series, threshold="0.2", units="ng/mL", inclusive=False)
    assert not exclusive.breached
    assert exclusive.explanation == "PSA 0.2 ng/mL on 6 Jul 2026 is at or below 0.2."


def test_a_value_above_the_analysers_range_is_above_a_lower_threshold() -> None:
    finding = absolute_limit([psa("6 Jul 2026", ">100")], threshold="50", units="ng/mL")

    assert finding.breached
    assert finding.explanation == "PSA >100 ng/mL on 6 Jul 2026 is at or above 50."


def test_a_below_rule_counts_an_undetectable_value_under_a_higher_threshold() -> None:
    # "PSA has become undetectable": <0.01 is certainly at or below 0.1, <0.5 is not known to be.
    assert absolute_limit(
        [psa("6 Jul 2026", "<0.01")], threshold="0.1", direction="below", units="ng/mL"
    ).breached
    assert not absolute_limit(
        [psa("6 Jul 2026", "<0.5")], threshold="0.1", direction="below", units="ng/mL"
    ).breached


def test_a_below_rule_explains_a_value_on_the_other_side() -> None:
    finding = absolute_limit(
        [psa("6 Jul 2026", "0.3")], threshold="0.1", direction="below", units="ng/mL"
    )

    assert finding.explanation == "PSA 0.3 ng/mL on 6 Jul 2026 is above 0.1."


def test_the_order_the_points_arrive_in_does_not_matter() -> None:
    series = [*AFTER_PROSTATECTOMY, FIRST_OVER, CONFIRMING]
    shuffled = series[:]
    random.Random(7).shuffle(shuffled)

    assert recurrence(shuffled) == recurrence(series)


def test_three_confirmations_need_three_values_over_the_line() -> None:
    series = [*AFTER_PROSTATECTOMY, FIRST_OVER, CONFIRMING]

    waiting = absolute_limit(series, threshold="0.2", confirmations=3, units="ng/mL")

    assert not waiting.breached
    assert waiting.explanation == (
        "PSA 0.24 ng/mL on 10 Nov 2026 is at or above 0.2 (with 0.21 on 2 Aug 2026), awaiting "
        "confirmation by 1 more result at or above 0.2 on a separate sample."
    )


def test_no_results_is_not_a_breach() -> None:
    finding = absolute_limit([], threshold="0.2", units="ng/mL")

    assert not finding.breached
    assert finding.evidence == ()
    assert finding.explanation == "No results to compare with the limit of 0.2 ng/mL."


def test_the_database_precision_does_not_show_in_the_explanation() -> None:
    stored = Point(at=on("10 Nov 2026"), value=Decimal("0.240000"), units="ng/mL", label="PSA")

    finding = absolute_limit([stored], threshold="0.2", units="ng/mL")

    assert finding.explanation == "PSA 0.24 ng/mL on 10 Nov 2026 is at or above 0.2."


def test_a_point_without_a_label_is_called_a_result() -> None:
    unlabelled = Point(at=on("10 Nov 2026"), value=Decimal("0.24"), units="ng/mL")

    finding = absolute_limit([unlabelled], threshold="0.2", units="ng/mL")

    assert finding.explanation == "Result 0.24 ng/mL on 10 Nov 2026 is at or above 0.2."
