"""factory_boy factories for the core record. NHS numbers come from the 999 test range and
pass the Modulus 11 check."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from rms import nhs_number
from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Membership,
    Observation,
    Patient,
    Result,
    Role,
    Team,
    TumourSite,
)

# Generated numbers start at 999 800 0000, clear of the numbers tests spell out
# (9990000018, 9434765919, ...) and of the demo data (999 100 0000 up).
_test_numbers = (
    f"999{body:06d}{check}"
    for body in itertools.count(800_000)
    if (check := nhs_number.check_digit(f"999{body:06d}")) is not None
)


def next_test_nhs_number() -> str:
    return next(_test_numbers)


def _letters(n: int) -> str:
    """``n`` as four capital letters (AAAA, AAAB, ...), different for each ``n`` below
    26 ** 4."""
    return "".join(chr(ord("A") + n // 26**place % 26) for place in (3, 2, 1, 0))


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.nhs.uk")
    password = factory.django.Password("correct-horse-battery")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Team {n}")
    code = factory.Sequence(lambda n: f"T{n:03d}")
    tumour_site = TumourSite.PROSTATE
    pkb_team_alias = factory.LazyAttribute(lambda t: f"RXX-{t.code}")
    pv1_service_code = "ONC"


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.CLINICIAN


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    nhs_number = factory.LazyFunction(next_test_nhs_number)
    nhs_number_status = "01"
    mrn = factory.Sequence(lambda n: f"RXX{n:07d}")
    title = "Mr"
    given_name = factory.Faker("first_name_male")
    # A real surname with four capitals of its own after it ("GarciaABCD"), so that no two
    # patients, and no patient and user, share a family name, and none is part of
    # another's: a test that one patient's name is not on a page would otherwise fail by
    # chance when Faker draws the same surname twice (it draws them by frequency).
    family_name = factory.LazyAttributeSequence(lambda p, n: f"{p.surname}{_letters(n)}")
    date_of_birth = dt.date(1955, 4, 12)
    sex = "M"
    address_line_1 = "1 Station Road"
    address_city = "Taunton"
    postcode = "TA1 1AA"
    phone_mobile = "07700 900123"

    class Params:
        surname = factory.Faker("last_name")

    @factory.post_generation
    def teams(self, create: bool, extracted: list[Team] | None, **kwargs: object) -> None:
        if not create or not extracted:
            return
        for team in extracted:
            CaseloadEntry.objects.create(patient=self, team=team, started_on=dt.date(2024, 1, 1))


class DiagnosisFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Diagnosis

    patient = factory.SubFactory(PatientFactory)
    code = "399068003"
    code_system = Diagnosis.CodeSystem.SNOMED_CT
    text = "Malignant tumour of prostate"
    diagnosed_on = dt.date(2023, 3, 1)
    tumour_site = TumourSite.PROSTATE
    stage = "T2N0M0"


class ResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Result

    patient = factory.SubFactory(PatientFactory)
    category = Result.Category.LAB
    source_system = "WINPATH"
    filler_order_number = factory.Sequence(lambda n: f"FON{n:07d}")
    service_code = "PSA"
    service_name = "Prostate specific antigen"
    observed_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=30))
    reported_at = factory.LazyAttribute(lambda r: r.observed_at + dt.timedelta(hours=6))


class ObservationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Observation

    result = factory.SubFactory(ResultFactory)
    code = "PSA"
    code_system = "WINPATH"
    name = "PSA"
    value_type = Observation.ValueType.NUMERIC
    value_text = "0.05"
    value_numeric = Decimal("0.05")
    units = "ug/L"
    reference_range = "0-4"
    observed_at = factory.LazyAttribute(lambda o: o.result.observed_at)


class AppointmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Appointment

    patient = factory.SubFactory(PatientFactory)
    placer_id = factory.Sequence(lambda n: f"APT{n:07d}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + dt.timedelta(days=14))
    appointment_type = "Telephone review"
    reason = "PSA follow-up"
    location = "Urology outpatients"
    clinician = "Dr A Khan"


class DocumentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Document

    patient = factory.SubFactory(PatientFactory)
    document_type = Document.DocumentType.CLINIC_LETTER
    title = "Clinic letter"
    document_number = factory.Sequence(lambda n: f"DOC{n:07d}")
    authored_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(days=60))
    author = "Dr A Khan"
    content_type = Document.ContentType.HTML
    content_html = "<p>Dear Dr Smith, your patient remains well.</p>"
