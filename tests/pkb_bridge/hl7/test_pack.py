from __future__ import annotations

import itertools
import random

import pytest

from pkb_bridge.hl7 import (
    LabReport,
    build_oru_lab,
    build_oru_lab_pack,
    pack_lab_groups,
    pack_lab_reports,
)
from tests.pkb_bridge.hl7.support import context, lab_report, observation, patient

MAX_BYTES = 8_000
MAX_REPORTS = 25


def _history(count: int = 200) -> list[LabReport]:
    """A patient's reports of uneven sizes, some with long notes and non-ASCII text."""
    rng = random.Random(20250301)
    reports = []
    for number in range(1, count + 1):
        observations = tuple(
            observation(n, notes=("Zoë " * rng.randint(0, 40),) if rng.random() < 0.2 else ())
            for n in range(1, rng.randint(1, 12) + 1)
        )
        reports.append(
            lab_report(number, observations=observations, delay_days=rng.choice([None, 3]))
        )
    return reports


def _size(reports: list[LabReport]) -> int:
    return len(build_oru_lab(context(), patient(), reports).encode("utf-8"))


def _pack(reports: list[LabReport], **limits: int) -> list[list[LabReport]]:
    return pack_lab_reports(
        reports,
        max_bytes=limits.get("max_bytes", MAX_BYTES),
        max_reports=limits.get("max_reports", MAX_REPORTS),
        context=context(),
        patient=patient(),
    )


def test_200_reports_fit_in_messages_within_the_limits_in_order() -> None:
    reports = _history()
    packs = _pack(reports)
    assert 1 < len(packs) < len(reports)
    for pack in packs:
        assert len(pack) <= MAX_REPORTS
        assert _size(pack) <= MAX_BYTES
    flattened = [report for pack in packs for report in pack]
    assert flattened == reports
    numbers = [report.filler_order_number for report in flattened]
    assert len(numbers) == len(set(numbers)) == 200


def test_each_message_is_as_full_as_the_limits_allow() -> None:
    packs = _pack(_history())
    for pack, following in itertools.pairwise(packs):
        grown = [*pack, following[0]]
        assert len(grown) > MAX_REPORTS or _size(grown) > MAX_BYTES


def test_the_report_count_limit_applies_on_its_own() -> None:
    packs = _pack(_history(60), max_bytes=10_000_000, max_reports=25)
    assert [len(pack) for pack in packs] == [25, 25, 10]


def test_a_report_bigger_than_the_limit_goes_alone() -> None:
    huge = lab_report(99, observations=(observation(1, notes=("x" * 20_000,)),))
    reports = [lab_report(1), huge, lab_report(2)]
    packs = _pack(reports)
    assert packs == [[reports[0]], [huge], [reports[2]]]


def test_the_measured_size_is_the_built_size() -> None:
    # Packing to exactly the size of three reports keeps them together, one byte less does not.
    reports = [lab_report(n) for n in range(1, 5)]
    exact = _size(reports[:3])
    assert [len(pack) for pack in _pack(reports, max_bytes=exact)] == [3, 1]
    assert [len(pack) for pack in _pack(reports, max_bytes=exact - 1)] == [2, 2]


def test_no_reports_make_no_messages() -> None:
    assert _pack([]) == []


@pytest.mark.parametrize(("max_bytes", "max_reports"), [(0, 5), (5_000, 0)])
def test_limits_must_be_positive(max_bytes: int, max_reports: int) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        _pack([lab_report()], max_bytes=max_bytes, max_reports=max_reports)


@pytest.mark.parametrize("delay_field", ["OBX-13", "OBR-13"])
def test_a_pack_builds_the_same_message_as_building_its_reports(delay_field: str) -> None:
    # The groups rendered to measure them are the message's groups: nothing is built twice,
    # and the text is exactly what build_oru_lab makes of the same reports.
    options = {
        "max_bytes": MAX_BYTES,
        "max_reports": MAX_REPORTS,
        "context": context(),
        "patient": patient(),
        "delay_field": delay_field,
    }
    packs = pack_lab_groups(_history(), **options)  # type: ignore[arg-type]
    assert [list(pack.reports) for pack in packs] == pack_lab_reports(_history(), **options)  # type: ignore[arg-type]
    for pack in packs:
        assert build_oru_lab_pack(context(), patient(), pack) == build_oru_lab(
            context(),
            patient(),
            pack.reports,
            delay_field=delay_field,  # type: ignore[arg-type]
        )
