"""Which patient a message is about: ``rms.inbound.matching``."""

from __future__ import annotations

import datetime as dt

import pytest

from rms.inbound.matching import Identity, MatchStatus, match_patient, same_name
from rms.models import Patient
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

BORN = dt.date(1958, 2, 14)


@pytest.fixture
def tester() -> Patient:
    return PatientFactory(
        nhs_number="9990000018", mrn="RXX1234567", family_name="Tester", date_of_birth=BORN
    )


def identity(**changes: object) -> Identity:
    values: dict[str, object] = {
        "nhs_number": "9990000018",
        "mrn": "",
        "family_name": "TESTER",
        "date_of_birth": BORN,
    }
    values.update(changes)
    return Identity(**values)  # type: ignore[arg-type]


def test_an_nhs_number_with_agreeing_details_matches(tester) -> None:
    match = match_patient(identity(nhs_number="999 000 0018"))
    assert (match.status, match.patient, match.reason) == (MatchStatus.MATCHED, tester, "")


def test_an_nhs_number_with_another_date_of_birth_is_held_for_review(tester) -> None:
    match = match_patient(identity(date_of_birth=dt.date(1958, 2, 15)))
    assert match.status is MatchStatus.REVIEW
    assert match.reason == (
        "Possible wrong patient: the NHS number matches a patient whose date of birth "
        "differs from the message."
    )


def test_an_nhs_number_with_another_family_name_is_held_for_review(tester) -> None:
    match = match_patient(identity(family_name="Tasker"))
    assert match.status is MatchStatus.REVIEW
    assert "family name" in match.reason
    assert "date of birth" not in match.reason


def test_an_nhs_number_with_both_details_different_names_both(tester) -> None:
    match = match_patient(identity(family_name="Tasker", date_of_birth=dt.date(1960, 1, 1)))
    assert match.status is MatchStatus.REVIEW
    assert "whose date of birth and family name differ from the message" in match.reason


def test_nhs_number_and_mrn_of_the_same_patient_match_though_the_name_differs(tester) -> None:
    # Two independent identifiers agree: the name has changed (marriage), the PAS corrects it.
    match = match_patient(identity(mrn="RXX1234567", family_name="Married-Name"))
    assert (match.status, match.patient) == (MatchStatus.MATCHED, tester)


def test_nhs_number_and_mrn_of_two_different_patients_are_held_for_review(tester) -> None:
    PatientFactory(nhs_number="4010232137", mrn="RXX7654321")
    match = match_patient(identity(mrn="RXX7654321"))
    assert match.status is MatchStatus.REVIEW
    assert match.patient is None
    assert "two different patients" in match.reason


def test_an_mrn_alone_with_agreeing_details_matches(tester) -> None:
    match = match_patient(identity(nhs_number="", mrn="RXX1234567"))
    assert (match.status, match.patient) == (MatchStatus.MATCHED, tester)


def test_an_mrn_alone_with_another_date_of_birth_is_held_for_review(tester) -> None:
    match = match_patient(
        identity(nhs_number="", mrn="RXX1234567", date_of_birth=dt.date(1958, 12, 14))
    )
    assert match.status is MatchStatus.REVIEW
    assert "date of birth" in match.reason


def test_an_mrn_of_a_patient_with_a_different_nhs_number_is_held_for_review(tester) -> None:
    # 9434765919 is valid and nobody's: the MRN's patient has another NHS number.
    match = match_patient(identity(nhs_number="9434765919", mrn="RXX1234567"))
    assert match.status is MatchStatus.REVIEW
    assert "different NHS number" in match.reason


def test_an_mrn_of_a_patient_with_no_nhs_number_matches_a_message_with_one() -> None:
    patient = PatientFactory(
        nhs_number=None, mrn="RXX0000042", family_name="Tester", date_of_birth=BORN
    )
    match = match_patient(identity(nhs_number="9434765919", mrn="RXX0000042"))
    assert (match.status, match.patient) == (MatchStatus.MATCHED, patient)


def test_an_invalid_nhs_number_matches_nothing_and_says_why(tester) -> None:
    match = match_patient(identity(nhs_number="9990000019", mrn="RXX1234567"))
    assert (match.status, match.patient) == (MatchStatus.UNMATCHED, None)
    assert "not valid" in match.reason
    assert "check digit" in match.reason


def test_nothing_known_is_unmatched(tester) -> None:
    match = match_patient(identity(nhs_number="9434765919", mrn="NOBODY"))
    assert (match.status, match.patient) == (MatchStatus.UNMATCHED, None)
    assert match.reason == "No patient with this NHS number or MRN."


def test_a_message_with_no_identifier_is_unmatched(tester) -> None:
    assert match_patient(identity(nhs_number="")).status is MatchStatus.UNMATCHED


@pytest.mark.parametrize("field", ["nhs_number", "mrn"])
def test_a_message_without_date_of_birth_or_family_name_matches_on_the_identifier(
    tester, field
) -> None:
    values = {"nhs_number": "", "mrn": "", "family_name": "", "date_of_birth": None}
    values[field] = {"nhs_number": "9990000018", "mrn": "RXX1234567"}[field]
    match = match_patient(Identity(**values))  # type: ignore[arg-type]
    assert (match.status, match.patient) == (MatchStatus.MATCHED, tester)


def test_a_name_written_another_way_still_matches() -> None:
    patient = PatientFactory(family_name="O'Brien", date_of_birth=BORN)
    match = match_patient(identity(nhs_number=patient.nhs_number, family_name="OBRIEN"))
    assert (match.status, match.patient) == (MatchStatus.MATCHED, patient)


@pytest.mark.parametrize(
    ("a", "b"),
    [("O'Brien", "OBRIEN"), ("Zoë", "ZOE"), ("Smith-Jones", "SMITH JONES"), ("tester", "TESTER")],
)
def test_names_that_differ_only_in_case_accents_and_punctuation_are_the_same(a, b) -> None:
    assert same_name(a, b)
    assert same_name(b, a)


@pytest.mark.parametrize(("a", "b"), [("Smith", "Smyth"), ("Smith", "Smithson"), ("Lee", "")])
def test_names_with_different_letters_are_not_the_same(a, b) -> None:
    assert not same_name(a, b)


@pytest.mark.parametrize(("a", "b"), [("Strauß", "STRAUSS"), ("Παπαδόπουλος", "ΠΑΠΑΔΟΠΟΥΛΟΣ")])
def test_names_in_other_alphabets_are_folded_too(a, b) -> None:
    assert same_name(a, b)


def test_two_different_names_in_another_script_are_not_the_same() -> None:
    # Folding to ASCII once made both of these "" and so "the same name".
    assert not same_name("Παπαδόπουλος", "Ιωάννου")
    assert not same_name("王", "李")


def test_a_message_with_another_name_in_another_script_is_held_for_review() -> None:
    patient = PatientFactory(family_name="Παπαδόπουλος", date_of_birth=BORN)
    match = match_patient(identity(nhs_number=patient.nhs_number, family_name="Ιωάννου"))
    assert match.status is MatchStatus.REVIEW
