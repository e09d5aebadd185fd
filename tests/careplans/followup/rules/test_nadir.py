"""Phoenix: biochemical failure after radiotherapy is a rise of 2 ng/mL or more above the nadir."""

from __future__ import annotations

from careplans.followup.rules import evaluate, rise_above_nadir
from tests.careplans.followup.rules.series import on, psa

TREATED = on("12 Jan 2025")
BEFORE_TREATMENT = psa("5 Jan 2025", "9.8")
# Falling to a nadir of 0.5 eighteen months after radiotherapy.
FALL = [
    psa("14 Apr 2025", "4.1"),
    psa("14 Jul 2025", "1.6"),
    psa("12 Jan 2026", "0.9"),
    psa("13 Jul 2026", "0.5"),
    psa("11 Jan 2027", "1.2"),
]
NADIR = FALL[3]


def phoenix(points):  # type: ignore[no-untyped-def]
    return rise_above_nadir(points, rise=2, anchor_at=TREATED, units="ng/mL")


def test_a_rise_to_more_than_nadir_plus_two_is_a_breach() -> None:
    latest = psa("12 Jul 2027", "2.6")

    finding = phoenix([BEFORE_TREATMENT, *FALL, latest])

    assert finding.breached
    assert finding.explanation == (
        "PSA 2.6 ng/mL on 12 Jul 2027 is at least 2 above the nadir of 0.5 on 13 Jul 2026 "
        "(nadir + 2 = 2.5)."
    )
    assert finding.evidence == (NADIR, latest)
    assert finding.key == ("rise_above_nadir/2026-07-13T08:00:00+00:00/2027-07-12T08:00:00+00:00")
    assert finding.details["nadir"] == "0.5"
    assert finding.details["threshold"] == "2.5"


def test_a_rise_to_less_than_nadir_plus_two_is_not_a_breach() -> None:
    finding = phoenix([BEFORE_TREATMENT, *FALL, psa("12 Jul 2027", "2.4")])

    assert not finding.breached
    assert finding.key == ""
    assert finding.explanation == (
        "PSA 2.4 ng/mL on 12 Jul 2027 is less than 2 above the nadir of 0.5 on 13 Jul 2026 "
        "(nadir + 2 = 2.5)."
    )


def test_a_rise_to_exactly_nadir_plus_two_is_a_breach() -> None:
    assert phoenix([*FALL, psa("12 Jul 2027", "2.5")]).breached


def test_the_failure_is_dated_at_the_first_result_over_the_line() -> None:
    first = psa("12 Jul 2027", "2.6")
    later = psa("11 Oct 2027", "3.4")

    at_first = phoenix([*FALL, first])
    at_later = phoenix([*FALL, first, later])

    # Phoenix dates failure "at call" (Roach et al. 2006): the first value over the line is the
    # failure, and a later, higher value is the same failure, not a new one.
    assert at_later.breached
    assert at_later.key == at_first.key
    assert at_later.evidence == (NADIR, first)
    assert at_later.explanation.startswith("PSA 2.6 ng/mL on 12 Jul 2027 is at least 2 above")


def test_points_before_the_treatment_date_are_not_the_nadir() -> None:
    # Salvage radiotherapy after a prostatectomy: the post-surgical 0.1 is not this nadir.
    salvage_on = on("3 Mar 2026")
    series = [
        psa("10 Jun 2025", "0.1"),
        psa("12 Jan 2026", "0.6"),
        psa("8 Jun 2026", "0.4"),
        psa("7 Sep 2026", "0.3"),
        psa("8 Mar 2027", "2.2"),
    ]

    with_anchor = rise_above_nadir(series, rise=2, anchor_at=salvage_on, units="ng/mL")
    without_anchor = rise_above_nadir(series, rise=2, units="ng/mL")

    assert not with_anchor.breached
    assert with_anchor.details["nadir"] == "0.3"
    assert without_anchor.breached
    assert without_anchor.details["nadir"] == "0.1"


def test_an_undetectable_nadir_counts_as_its_detection_limit() -> None:
    series = [psa("14 Jul 2025", "0.4"), psa("12 Jan 2026", "<0.01"), psa("11 Jan 2027", "2.05")]

    finding = phoenix(series)

    assert finding.breached
    assert finding.details["threshold"] == "2.01"
    assert "nadir of <0.01 on 12 Jan 2026 (taken as 0.01)" in finding.explanation


def test_an_undetectable_latest_value_never_breaches() -> None:
    finding = phoenix([*FALL, psa("12 Jul 2027", "<0.01")])

    assert not finding.breached
    assert "is reported only as below 0.01" in finding.explanation


def test_a_new_low_is_not_a_rise() -> None:
    finding = phoenix([*FALL[:4], psa("11 Jan 2027", "0.3")])

    assert not finding.breached
    assert finding.explanation == (
        "PSA 0.3 ng/mL on 11 Jan 2027 is not above the lowest earlier result on or after "
        "12 Jan 2025 (0.5 on 13 Jul 2026), so there is no rise above the nadir."
    )


def test_a_later_equal_low_keeps_the_first_nadir() -> None:
    series = [*FALL[:4], psa("11 Jan 2027", "0.5"), psa("12 Jul 2027", "2.6")]

    assert phoenix(series).details["nadir_at"] == "2026-07-13T08:00:00+00:00"


def test_one_result_since_treatment_is_only_the_nadir_so_far() -> None:
    finding = phoenix([BEFORE_TREATMENT, FALL[0]])

    assert not finding.breached
    assert finding.explanation == (
        "PSA 4.1 ng/mL on 14 Apr 2025 is the only result on or after 12 Jan 2025, so it is the "
        "nadir so far and there is no rise to measure."
    )


def test_a_stored_treatment_date_starts_at_midnight_in_london() -> None:
    # 00:30 BST on the treatment day is 23:30 UTC the day before, and still counts.
    just_after_midnight = psa("1 Jul 2026", "0.5", clock="00:30")
    series = [
        psa("30 Jun 2026", "0.1", clock="08:00"),
        just_after_midnight,
        psa("1 Jan 2027", "2.6"),
    ]

    finding = evaluate(
        "rise_above_nadir", series, {"rise": 2, "anchor_at": "2026-07-01", "units": "ng/mL"}
    )

    assert finding.breached
    assert finding.evidence[0] == just_after_midnight
