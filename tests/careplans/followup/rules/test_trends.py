from __future__ import annotations

from datetime import UTC

import pytest

from careplans.followup.rules import RuleConfigError, consecutive_rises, percentage_rise
from tests.careplans.followup.rules.series import on, psa

RISING = [
    psa("6 Jan 2026", "0.05"),
    psa("7 Apr 2026", "0.08"),
    psa("6 Jul 2026", "0.12"),
    psa("5 Oct 2026", "0.19"),
]


def test_three_consecutive_rises_are_a_breach() -> None:
    finding = consecutive_rises(RISING, count=3, units="ng/mL")

    assert finding.breached
    assert finding.explanation == (
        "PSA has risen 3 times in a row: 0.05 ng/mL on 6 Jan 2026, 0.08 on 7 Apr 2026, "
        "0.12 on 6 Jul 2026 and 0.19 on 5 Oct 2026."
    )
    assert finding.evidence == tuple(RISING)
    assert finding.key == "consecutive_rises/2026-01-06T09:00:00+00:00"


def test_two_rises_are_not_enough_for_three() -> None:
    finding = consecutive_rises(RISING[1:], count=3, units="ng/mL")

    assert not finding.breached
    assert finding.explanation.startswith(
        "PSA has risen 2 times in a row, fewer than the 3 consecutive rises this rule looks for"
    )


def test_a_fall_restarts_the_count() -> None:
    series = [*RISING[:2], psa("1 May 2026", "0.07"), *RISING[2:]]

    finding = consecutive_rises(series, count=3, units="ng/mL")

    assert not finding.breached
    assert finding.details["rises"] == 2


def test_an_unchanged_value_is_not_a_rise() -> None:
    series = [*RISING, psa("4 Jan 2027", "0.19")]

    finding = consecutive_rises(series, count=1, units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "PSA 0.19 ng/mL on 4 Jan 2027 has not risen over the result before it (0.19 on 5 Oct 2026)."
    )


def test_rises_smaller_than_the_minimum_do_not_count() -> None:
    # 0.05 -> 0.08 is a rise of only 0.03.
    finding = consecutive_rises(RISING, count=3, units="ng/mL", min_rise="0.035")

    assert not finding.breached
    assert finding.details["rises"] == 2
    assert finding.explanation.startswith("PSA has risen by more than 0.035 ng/mL 2 times")


def test_a_fall_to_undetectable_ends_a_run_of_rises() -> None:
    # "<0.01" after 0.02 is a fall: the run starts again from it (it counts as its limit).
    series = [
        psa("6 Jan 2026", "<0.01"),
        psa("7 Apr 2026", "0.02"),
        psa("6 Jul 2026", "<0.01"),
        psa("5 Oct 2026", "0.03"),
        psa("4 Jan 2027", "0.05"),
        psa("5 Apr 2027", "0.08"),
    ]

    finding = consecutive_rises(series, count=3, units="ng/mL")

    assert finding.breached
    assert finding.evidence == tuple(series[2:])
    assert finding.key == f"consecutive_rises/{series[2].at.astimezone(UTC).isoformat()}"
    assert not consecutive_rises(series[:5], count=3, units="ng/mL").breached


def test_a_minimum_rise_keeps_assay_noise_from_counting_as_rises() -> None:
    noise = [
        psa("6 Jan 2026", "0.02"),
        psa("7 Apr 2026", "0.03"),
        psa("6 Jul 2026", "0.04"),
        psa("5 Oct 2026", "0.05"),
    ]

    assert consecutive_rises(noise, count=3, units="ng/mL").breached
    assert not consecutive_rises(noise, count=3, min_rise="0.05", units="ng/mL").breached


def test_a_further_rise_continues_the_same_breach() -> None:
    first = consecutive_rises(RISING, count=3, units="ng/mL")
    again = consecutive_rises([*RISING, psa("4 Jan 2027", "0.3")], count=3, units="ng/mL")

    assert again.key == first.key


def test_a_rise_of_a_quarter_over_the_previous_result_is_a_breach_at_25_percent() -> None:
    series = [psa("6 Jul 2026", "0.4"), psa("5 Oct 2026", "0.5")]

    finding = percentage_rise(series, percent=25, units="ng/mL")

    assert finding.breached
    assert finding.explanation == (
        "PSA 0.5 ng/mL on 5 Oct 2026 is 25% above the previous result of 0.4 on 6 Jul 2026, "
        "at least the 25% rise this rule looks for."
    )
    assert finding.key == ("percentage_rise/2026-07-06T08:00:00+00:00/2026-10-05T08:00:00+00:00")
    assert finding.details["rise_percent"] == "25"


def test_a_smaller_rise_over_the_previous_result_is_not_a_breach() -> None:
    series = [psa("6 Jul 2026", "0.4"), psa("5 Oct 2026", "0.5")]

    finding = percentage_rise(series, percent=30, units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "PSA 0.5 ng/mL on 5 Oct 2026 is 25% above the previous result of 0.4 on 6 Jul 2026, "
        "less than the 30% rise this rule looks for."
    )


def test_a_fall_is_described_as_a_fall() -> None:
    series = [psa("6 Jul 2026", "0.5"), psa("5 Oct 2026", "0.4")]

    finding = percentage_rise(series, percent=25, units="ng/mL")

    assert not finding.breached
    assert "is 20% below the previous result" in finding.explanation


def test_the_baseline_is_the_first_result_on_or_after_the_anchor() -> None:
    series = [
        psa("5 Jan 2026", "9.8"),  # before treatment: not the baseline
        psa("6 Apr 2026", "0.4"),
        psa("6 Jul 2026", "0.45"),
        psa("5 Oct 2026", "0.62"),
    ]

    finding = percentage_rise(
        series, percent=50, against="baseline", anchor_at=on("1 Feb 2026"), units="ng/mL"
    )

    assert finding.breached
    assert finding.explanation == (
        "PSA 0.62 ng/mL on 5 Oct 2026 is 55% above the baseline of 0.4 on 6 Apr 2026, "
        "at least the 50% rise this rule looks for."
    )
    assert finding.evidence == tuple(series[1::2])


def test_a_baseline_breach_is_keyed_on_the_first_result_over_the_line() -> None:
    base = [psa("6 Apr 2026", "0.4"), psa("6 Jul 2026", "0.65")]
    later = psa("5 Oct 2026", "0.7")

    first = percentage_rise(base, percent=50, against="baseline", units="ng/mL")
    again = percentage_rise([*base, later], percent=50, against="baseline", units="ng/mL")

    assert again.key == first.key
    assert again.explanation.endswith("; the rise first reached 50% on 6 Jul 2026.")


def test_a_given_baseline_is_in_the_rules_units() -> None:
    series = [psa("6 Jul 2026", "450", units="ng/L")]

    finding = percentage_rise(series, percent=50, against="baseline", baseline="0.3", units="ug/L")

    assert finding.breached
    assert finding.explanation == (
        "PSA 450 ng/L on 6 Jul 2026 is 50% above the baseline of 0.3 ug/L, at least the 50% "
        "rise this rule looks for."
    )


def test_an_undetectable_previous_result_counts_as_its_detection_limit() -> None:
    series = [psa("6 Jul 2026", "<0.1"), psa("5 Oct 2026", "0.2")]

    finding = percentage_rise(series, percent=50, units="ng/mL")

    assert finding.breached
    assert finding.details["reference"] == "0.1"


def test_an_undetectable_latest_result_never_breaches() -> None:
    series = [psa("6 Jul 2026", "0.01"), psa("5 Oct 2026", "<0.1")]

    assert not percentage_rise(series, percent=50, units="ng/mL").breached


def test_a_baseline_value_needs_against_baseline() -> None:
    with pytest.raises(RuleConfigError) as raised:
        percentage_rise([], percent=50, baseline="0.3", units="ng/mL")

    assert raised.value.parameter == "baseline"


def test_a_single_result_has_nothing_to_rise_from() -> None:
    finding = percentage_rise([psa("6 Jul 2026", "0.4")], percent=50, units="ng/mL")

    assert not finding.breached
    assert finding.explanation == (
        "PSA 0.4 ng/mL on 6 Jul 2026 is the only result; there is no previous result to "
        "compare with."
    )


def test_a_rise_just_short_of_the_limit_is_not_rounded_up_to_it() -> None:
    series = [psa("6 Jul 2026", "0.4"), psa("5 Oct 2026", "0.4998")]

    finding = percentage_rise(series, percent=25, units="ng/mL")

    assert not finding.breached
    assert "is 24.9% above the previous result" in finding.explanation
