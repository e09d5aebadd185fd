"""Parsing a caseload row: addresses, phones and postcodes (rms.importing)."""

from __future__ import annotations

import pytest

from rms.importing import normalise_postcode, phone_field, split_address


def test_a_full_address_fills_every_field_in_order() -> None:
    assert split_address("14 Orchard Close, Bishops Lydeard, Taunton, Somerset, TA4 3AB") == {
        "address_line_1": "14 Orchard Close",
        "address_line_2": "Bishops Lydeard",
        "address_city": "Taunton",
        "address_county": "Somerset",
        "postcode": "TA4 3AB",
    }


def test_an_empty_part_keeps_its_place() -> None:
    values = split_address("3 Mill Lane, , Wellington, Somerset, TA21 8QP")

    assert values["address_line_2"] == ""
    assert values["address_city"] == "Wellington"


def test_extra_parts_are_joined_into_line_two() -> None:
    values = split_address("Flat 2, Quay House, 9 Harbour Road, Watchet, Somerset, TA23 0AQ")

    assert values["address_line_1"] == "Flat 2"
    assert values["address_line_2"] == "Quay House, 9 Harbour Road"
    assert values["address_city"] == "Watchet"
    assert values["address_county"] == "Somerset"
    assert values["postcode"] == "TA23 0AQ"


def test_without_a_postcode_every_part_is_an_address_line() -> None:
    values = split_address("1 Station Road, Taunton")

    assert values["address_line_1"] == "1 Station Road"
    assert values["address_line_2"] == "Taunton"
    assert values["postcode"] == ""


def test_a_lower_case_postcode_without_a_space_is_recognised() -> None:
    assert split_address("1 Station Road, ta11aa")["postcode"] == "TA1 1AA"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("TA1 1AA", "TA1 1AA"),
        ("sw1a1aa", "SW1A 1AA"),
        ("M1  1AE", "M1 1AE"),
        ("GIR 0AA", "GIR 0AA"),
        ("Taunton", ""),
        ("TA1", ""),
        ("12345", ""),
    ],
)
def test_postcodes_are_recognised_and_normalised(value: str, expected: str) -> None:
    assert normalise_postcode(value) == expected


@pytest.mark.parametrize(
    ("phone", "field"),
    [
        ("07700 900123", "phone_mobile"),
        ("07700900123", "phone_mobile"),
        ("+44 7700 900123", "phone_mobile"),
        ("(01632) 960202", "phone_home"),
        ("01823 333444", "phone_home"),
        ("0770 090", "phone_home"),
    ],
)
def test_uk_mobiles_go_to_the_mobile_field(phone: str, field: str) -> None:
    assert phone_field(phone) == field
