"""``rms.permissions``: who reads and who writes for a patient, and the one refusal."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from rms import permissions
from rms.admin.record import sees_everything
from rms.models import CaseloadEntry, Role
from rms.permissions import Refused
from tests.conftest import member
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_a_clinician_of_the_patients_team_reads_and_writes_as_that_team(
    clinician, patient, team
) -> None:
    assert list(permissions.readable_teams(user=clinician, patient=patient)) == [team]
    assert list(permissions.writable_teams(user=clinician, patient=patient)) == [team]
    assert permissions.can_read(user=clinician, patient=patient)
    permissions.require_read(user=clinician, patient=patient)
    assert permissions.require_write(user=clinician, patient=patient) == team


def test_a_team_admin_writes_and_is_the_teams_admin(team_admin, patient, team) -> None:
    assert permissions.require_write(user=team_admin, patient=patient) == team
    assert permissions.is_team_admin(user=team_admin, team_ids=[team.pk])
    assert permissions.is_team_admin_for(user=team_admin, patient=patient)
    permissions.require_team_admin(user=team_admin, team_ids=[team.pk])


def test_a_clinician_is_not_the_teams_admin(clinician, patient, team) -> None:
    assert not permissions.is_team_admin(user=clinician)
    assert not permissions.is_team_admin_for(user=clinician, patient=patient)
    with pytest.raises(Refused) as refused:
        permissions.require_team_admin(user=clinician, team_ids=[team.pk])
    assert refused.value.reason == permissions.TEAM_ADMIN_REFUSAL


def test_a_viewer_reads_but_is_refused_a_write_with_the_one_sentence(viewer, patient) -> None:
    assert permissions.can_read(user=viewer, patient=patient)
    assert not permissions.can_write(user=viewer, patient=patient)
    assert not permissions.writable_teams(user=viewer, patient=patient).exists()
    with pytest.raises(Refused) as refused:
        permissions.require_write(user=viewer, patient=patient)
    # A PermissionDenied: the 403 page and the API show its sentence.
    assert isinstance(refused.value, PermissionDenied)
    assert str(refused.value) == refused.value.reason == permissions.WRITE_REFUSAL


def test_a_clinician_of_another_team_neither_reads_nor_writes(
    other_team_clinician, patient
) -> None:
    assert not permissions.can_read(user=other_team_clinician, patient=patient)
    assert not permissions.can_write(user=other_team_clinician, patient=patient)
    with pytest.raises(Refused):
        permissions.require_read(user=other_team_clinician, patient=patient)
    with pytest.raises(Refused):
        permissions.require_write(user=other_team_clinician, patient=patient)


def test_a_user_with_no_membership_has_no_teams(patient) -> None:
    nobody = UserFactory(username="nobody")
    assert not permissions.member_teams(user=nobody).exists()
    assert not permissions.can_read(user=nobody, patient=patient)
    with pytest.raises(Refused):
        permissions.require_write(user=nobody, patient=patient)


def test_a_superuser_has_no_see_everything_mode_outside_django_admin(rf, patient) -> None:
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    assert not permissions.can_read(user=root, patient=patient)
    with pytest.raises(Refused):
        permissions.require_write(user=root, patient=patient)
    request = rf.get("/admin/")
    request.user = root
    assert sees_everything(request)


def test_a_discharged_patient_is_out_of_the_teams_scope(clinician, patient) -> None:
    CaseloadEntry.objects.filter(patient=patient).update(ended_on=dt.date(2025, 1, 1))
    assert not permissions.can_read(user=clinician, patient=patient)
    assert not permissions.can_write(user=clinician, patient=patient)


def test_a_named_team_must_be_one_the_user_writes_in(clinician, patient, team, other_team) -> None:
    CaseloadEntry.objects.create(patient=patient, team=other_team, started_on=dt.date(2024, 1, 1))
    member(other_team, Role.VIEWER, "crcviewer")
    assert permissions.require_write(user=clinician, patient=patient, team=team) == team
    with pytest.raises(Refused):
        permissions.require_write(user=clinician, patient=patient, team=other_team)


def test_writing_for_a_patient_on_two_teams_picks_the_first_by_name(
    clinician, patient, team, other_team
) -> None:
    CaseloadEntry.objects.create(patient=patient, team=other_team, started_on=dt.date(2024, 1, 1))
    clinician.memberships.create(team=other_team, role=Role.CLINICIAN)
    assert list(permissions.writable_teams(user=clinician, patient=patient).order_by("name")) == [
        other_team,
        team,
    ]
    # "Colorectal CNS team" comes before "Urology CNS team".
    assert permissions.require_write(user=clinician, patient=patient) == other_team


def test_an_inactive_clinician_writes_in_no_team(clinician, team) -> None:
    assert permissions.can_write_in_team(user=clinician, team_id=team.pk)
    clinician.is_active = False
    clinician.save()
    assert not permissions.can_write_in_team(user=clinician, team_id=team.pk)
    assert not permissions.can_write_in_team(user=clinician, team_id=None)


def test_require_write_answers_as_writable_teams_for_every_kind_of_user(
    patient, team, other_team
) -> None:
    """``require_write`` reads the writable teams with its own statement: whatever the role,
    the caseload or the team asked for, it chooses what ``writable_teams`` (the rule's ORM
    form) chooses, or refuses where that has none."""
    CaseloadEntry.objects.create(patient=patient, team=other_team, started_on=dt.date(2024, 1, 1))
    users = {
        "clinician of both": member(team, Role.CLINICIAN, "both"),
        "team admin of one": member(team, Role.TEAM_ADMIN, "admin1"),
        "viewer": member(team, Role.VIEWER, "viewer1"),
        "viewer here, clinician there": member(team, Role.VIEWER, "mixed"),
        "no membership": UserFactory(),
        "anonymous": AnonymousUser(),
    }
    users["clinician of both"].memberships.create(team=other_team, role=Role.CLINICIAN)
    users["viewer here, clinician there"].memberships.create(team=other_team, role=Role.CLINICIAN)
    for discharged in (False, True):
        if discharged:  # off the first team's caseload: only the other team may write
            CaseloadEntry.objects.filter(patient=patient, team=team).update(
                ended_on=dt.date(2025, 1, 1)
            )
        for who, user in users.items():
            writable = list(
                permissions.writable_teams(user=user, patient=patient).order_by("name", "id")
            )
            for asked in (None, team, other_team):
                expected = (
                    (asked if asked in writable else None) if asked else next(iter(writable), None)
                )
                case = f"{who}, asking {asked}, discharged from one: {discharged}"
                if expected is None:
                    with pytest.raises(Refused):
                        permissions.require_write(user=user, patient=patient, team=asked)
                else:
                    chosen = permissions.require_write(user=user, patient=patient, team=asked)
                    assert chosen == expected, case
