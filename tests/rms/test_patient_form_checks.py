"""The checks a clinician expects on the patient forms (registration and edit). Sources: the UK
postcode format (Royal Mail; UK Government Data Standards Catalogue: outward code A9, A99, AA9,
AA99, A9A or AA9A, a space, inward code 9AA); Ofcom's National Telephone Numbering Plan (a
national number is 0 and 10 digits, 9 for some 01 and 0800 numbers; mobiles are 07 and 9 digits;
+44 replaces the 0); NHS Data Dictionary, NHS NUMBER (Modulus 11: 943 476 5919 is valid, 943 476
5918 is not). A date of birth cannot be in the future. Every error of a submission is shown at
once: an invalid date does not hide the NHS number error."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from rms.models import Patient
from rms.uk_formats import phone_invalid_reason, postcode_invalid_reason, postcode_normalise
from tests.rms.test_views import details, edit_url, registration

pytestmark = pytest.mark.django_db

TOMORROW = (timezone.localdate() + dt.timedelta(days=1)).isoformat()


def _register(client: Client, team, **overrides):  # type: ignore[no-untyped-def]
    # Not traced (02): registering a verified number (01) is a team admin's act.
    data = registration(team, **{"nhs_number_status": "02", **overrides})
    return client.post(reverse("rms:patient_create"), data)


def test_an_invalid_date_and_an_invalid_nhs_number_are_both_shown(
    client: Client, clinician, team
) -> None:
    client.force_login(clinician)
    response = _register(client, team, date_of_birth="1952-02-30", nhs_number="943 476 5918")
    errors = response.context["form"].errors

    assert response.status_code == 200
    assert "date_of_birth" in errors
    assert "check digit" in errors["nhs_number"][0]
    assert not Patient.objects.exists()


def test_an_invalid_date_does_not_hide_a_duplicate_nhs_number(
    client: Client, clinician, team, other_patient: Patient
) -> None:
    client.force_login(clinician)
    response = _register(
        client, team, date_of_birth="not a date", nhs_number=other_patient.nhs_number
    )
    errors = response.context["form"].errors

    assert "date_of_birth" in errors
    assert "already registered" in errors["nhs_number"][0]
    assert Patient.objects.count() == 1


def test_every_format_error_is_shown_together(client: Client, clinician, team) -> None:
    client.force_login(clinician)
    response = _register(
        client,
        team,
        date_of_birth="",
        postcode="TA1",
        phone_mobile="0113 496 0000",
        phone_home="12345",
        nhs_number="12",
    )
    errors = response.context["form"].errors

    assert {"date_of_birth", "postcode", "phone_mobile", "phone_home", "nhs_number"} <= set(errors)
    assert "UK postcode" in errors["postcode"][0]
    assert "mobile" in errors["phone_mobile"][0]
    assert not Patient.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"postcode": "12345"}, "postcode"),
        ({"postcode": "SW1A 1CA"}, "postcode"),  # C is never an inward-code letter
        ({"phone_mobile": "01632 960000"}, "phone_mobile"),  # a landline is not a mobile
        ({"phone_home": "0412 345678"}, "phone_home"),  # 04 is not in use
        ({"phone_work": "07700 90012"}, "phone_work"),  # one digit short
        ({"date_of_birth": TOMORROW}, "date_of_birth"),
        ({"date_of_birth": "1852-03-11"}, "date_of_birth"),
    ],
)
def test_a_registration_with_a_wrong_format_is_refused_with_the_field_named(
    client: Client, clinician, team, overrides, field
) -> None:
    client.force_login(clinician)
    response = _register(client, team, **overrides)

    assert response.status_code == 200
    assert list(response.context["form"].errors) == [field]
    assert not Patient.objects.exists()


def test_uk_and_international_numbers_and_a_lower_case_postcode_are_accepted(
    client: Client, clinician, team
) -> None:
    client.force_login(clinician)
    response = _register(
        client,
        team,
        postcode="sw1a1aa",
        phone_mobile="+44 (0)7700 900123",
        phone_home="020 7946 0000",
        phone_work="+33 1 23 45 67 89",
    )

    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.postcode == "SW1A 1AA"
    assert patient.phone_mobile == "+44 (0)7700 900123"  # kept as typed


def test_an_edit_that_keeps_a_stored_value_is_not_refused_for_it(
    client: Client, clinician, patient: Patient
) -> None:
    """A postcode from the hospital's records in another form (BFPO, say) does not stop a
    clinician correcting the name; a changed postcode is checked."""
    Patient.objects.filter(pk=patient.pk).update(postcode="BFPO 105", phone_home="n/a")
    patient.refresh_from_db()
    client.force_login(clinician)
    kept = details(patient, postcode="BFPO 105", phone_home="n/a", family_name="Prefect")

    response = client.post(edit_url(patient), kept)

    assert response.status_code == 302
    patient.refresh_from_db()
    assert (patient.family_name, patient.postcode) == ("Prefect", "BFPO 105")

    refused = client.post(edit_url(patient), {**kept, "postcode": "BFPO 106"})
    assert "postcode" in refused.context["form"].errors


def test_an_edit_shows_a_date_error_and_a_duplicate_nhs_number_together(
    client: Client, clinician, patient: Patient, other_patient: Patient
) -> None:
    client.force_login(clinician)
    response = client.post(
        edit_url(patient),
        details(patient, date_of_birth="31/31/1950", nhs_number=other_patient.nhs_number),
    )
    errors = response.context["form"].errors

    assert "date_of_birth" in errors
    assert "already registered" in errors["nhs_number"][0]
    patient.refresh_from_db()
    assert patient.nhs_number != other_patient.nhs_number


def test_a_viewer_is_refused_the_edit_whatever_the_values(client: Client, viewer, patient) -> None:
    client.force_login(viewer)

    response = client.post(edit_url(patient), details(patient, postcode="nonsense"))

    assert response.status_code == 403


@pytest.mark.parametrize(
    ("typed", "written"),
    [("sw1a1aa", "SW1A 1AA"), ("m1 1ae", "M1 1AE"), ("B33 8TH", "B33 8TH"), ("gir0aa", "GIR 0AA")],
)
def test_postcodes_in_each_outward_form_are_accepted_and_written_alike(typed, written) -> None:
    assert postcode_invalid_reason(typed) is None
    assert postcode_normalise(typed) == written


@pytest.mark.parametrize(
    ("number", "mobile", "ok"),
    [
        ("07700 900123", True, True),
        ("+44 7700 900123", True, True),
        ("0044 7700 900123", True, True),
        ("07624 123456", True, True),  # Isle of Man mobiles
        ("07000 123456", True, False),  # personal numbering, not a mobile
        ("0113 496 0000", False, True),
        ("016977 3456", False, True),  # ten-digit geographic number
        ("0113 496 0000", True, False),
        ("0612 345678", False, False),  # 06 is not in use
        ("0800 123 456", False, True),  # ten-digit freephone
        ("020 7946 000", False, False),  # London numbers have 11 digits
        ("+1 202 555 0123", False, True),
        ("+1234567890123456", False, False),  # longer than E.164 allows
    ],
)
def test_telephone_numbers_follow_the_numbering_plan(number, mobile, ok) -> None:
    assert (phone_invalid_reason(number, mobile=mobile) is None) is ok
