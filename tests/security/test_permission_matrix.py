"""Who may reach every URL of the product, declared in one table and checked for six actors.

The test walks the whole URL configuration. Every named URL must have a row in ``MATRIX``
saying what an anonymous visitor, a viewer, a clinician and a team admin of the patient's
team, a clinician of another team, and a superuser on no team get for a GET and, for a page
or endpoint that writes, for the writing request. A URL with no row fails
``test_every_url_has_a_declared_access`` ("declare the access of <name>"), so a new page or
endpoint cannot ship without someone deciding who reaches it. A refused write must leave the
database as it was.

Django admin (``admin:*``) is one prefix: ``ADMIN_CHECKS`` checks a few of its URLs.

Adding a row: pick the kwargs builder (``_patient``, ``_plan``, ``_item``, ...; add a cached
builder to ``World`` when the URL needs a new kind of object), then the expectations, usually
``scoped_read()`` or ``scoped_write(ok)``.

Superusers (docs/adr/0001): no wider view of patients in the clinician pages or the API, so
the superuser here belongs to no team and gets a 404 for a patient; the staff views (PKB
delivery) and Django admin are where a superuser sees everything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, cached_property
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Model
from django.test import Client, override_settings
from django.test.client import ClientHandler
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from careplans.care_plans import services as care_plan_services
from careplans.followup import review
from careplans.followup import services as plan_services
from careplans.library import services as library_services
from careplans.models import (
    CarePlan,
    CarePlanTemplate,
    ConsentRecord,
    FollowUpPlan,
    Pathway,
    QuestionnaireResponse,
    Resource,
)
from careplans.questionnaires import services as questionnaire_services
from careplans.questionnaires.selectors import questionnaire_get
from pkb_bridge import services as pkb_services
from pkb_bridge.models import ReleasePolicy
from rms.models import Document, Patient, Result, Role, Team
from tests.careplans.library.helpers import resource as library_resource
from tests.factories import (
    DocumentFactory,
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    TeamFactory,
    UserFactory,
)
from tests.security.conftest import api_headers_for
from tests.worklists.helpers import raise_item
from worklists.models import WorkItem

pytestmark = pytest.mark.django_db

# --- what an actor may get back ------------------------------------------------------------

LOGIN = "login"  # 302 to the login page, to come back after (login_required)
SIGNED_OUT = "signed-out"  # 302 to the login page after logging out: nothing to come back to
ADMIN_LOGIN = "admin-login"  # 302 to Django admin's login page
Code = int | str | frozenset[int]  # a set: any of these (a probe answers 200 or 503)

ACTORS = ("anon", "viewer", "clinician", "team_admin", "other", "superuser")
# A refusal: the request was not allowed to do what it asked.
REFUSED: frozenset[Code] = frozenset({LOGIN, ADMIN_LOGIN, 401, 403, 404, 405})


@dataclass(frozen=True)
class Access:
    """The status each actor gets. ``other`` is a clinician of another team; ``superuser`` is
    a superuser on no team."""

    anon: Code
    viewer: Code
    clinician: Code
    team_admin: Code
    other: Code
    superuser: Code

    def of(self, actor: str) -> Code:
        return getattr(self, actor)  # type: ignore[no-any-return]


def scoped_read(*, anon: Code = LOGIN) -> Access:
    """A read of one patient of the team: any role of the team; another team's clinician
    and a superuser on no team find no such patient."""
    return Access(anon=anon, viewer=200, clinician=200, team_admin=200, other=404, superuser=404)


def scoped_write(ok: Code, *, anon: Code = LOGIN, viewer: Code = 403) -> Access:
    """A write to one patient of the team: clinicians and team admins; a viewer is refused;
    another team's clinician and a superuser on no team find no such patient."""
    return Access(anon=anon, viewer=viewer, clinician=ok, team_admin=ok, other=404, superuser=404)


def team_admin_only(ok: Code = 200, *, anon: Code = LOGIN) -> Access:
    """For the team admins of the team only (the audit trail, approving a resource): the
    team's other roles are refused; outside the team the patient or resource does not exist."""
    return Access(anon=anon, viewer=403, clinician=403, team_admin=ok, other=404, superuser=404)


def everyone(code: Code, *, anon: Code = LOGIN) -> Access:
    return Access(
        anon=anon, viewer=code, clinician=code, team_admin=code, other=code, superuser=code
    )


def staff_only(ok: Code) -> Access:
    """The staff views: users who are not staff are refused; the superuser sees everything."""
    return Access(anon=LOGIN, viewer=403, clinician=403, team_admin=403, other=403, superuser=ok)


NOT_ALLOWED_METHOD = everyone(405)  # the GET of a POST-only view, once logged in


# --- the objects the URLs address ----------------------------------------------------------


class Cast:
    """The teams, the six actors, each signed in once (a session for the pages, a token for
    the API), and a patient of each team. Made once for the module (the ``cast`` fixture):
    the tests only read them, and whatever a test changes is rolled back after it."""

    def __init__(self) -> None:
        # One handler for every test client: loading the middleware is most of the cost of
        # a new client's first request.
        self.handler = ClientHandler(enforce_csrf_checks=False)
        self.team = TeamFactory(code="URO", name="Urology CNS team")
        self.other_team = TeamFactory(code="CRC", name="Colorectal CNS team")
        superuser: User = UserFactory(username="root", is_staff=True, is_superuser=True)
        self.users: dict[str, User | None] = {
            "anon": None,
            "viewer": self._member(self.team, Role.VIEWER, "viewer"),
            "clinician": self._member(self.team, Role.CLINICIAN, "clinician"),
            "team_admin": self._member(self.team, Role.TEAM_ADMIN, "teamadmin"),
            "other": self._member(self.other_team, Role.CLINICIAN, "otherclinician"),
            "superuser": superuser,
        }
        self.patient: Patient = PatientFactory(teams=[self.team])
        self.other_patient: Patient = PatientFactory(teams=[self.other_team])
        self.session_keys: dict[str, str] = {}
        self.api_headers: dict[str, dict[str, str]] = {}
        for actor, user in self.users.items():
            if user is None:
                continue
            client = self.client()
            client.force_login(user)
            self.session_keys[actor] = client.cookies[settings.SESSION_COOKIE_NAME].value
            self.api_headers[actor] = api_headers_for(user)

    @staticmethod
    def _member(team: Team, role: str, username: str) -> User:
        user: User = UserFactory(username=username)
        MembershipFactory(user=user, team=team, role=role)
        return user

    def client(self) -> Client:
        client = Client()
        client.handler = self.handler
        return client


class World:
    """The cast and the patient's objects, for one test. Builders are cached: a row asks for
    ``world.plan`` and gets one plan however many times it asks."""

    def __init__(self, cast: Cast) -> None:
        self.cast = cast
        self.team = cast.team
        self.other_team = cast.other_team
        self.users = cast.users
        self.patient = cast.patient
        self.other_patient = cast.other_patient

    @property
    def clinician(self) -> User:
        user = self.users["clinician"]
        assert user is not None
        return user

    @cached_property
    def result(self) -> Result:
        result: Result = ResultFactory(
            patient=self.patient,
            service_name="Prostate specific antigen",
            observed_at=timezone.now() - dt.timedelta(days=30),
        )
        ObservationFactory(result=result, value_text="0.05", value_numeric=Decimal("0.05"))
        return result

    @cached_property
    def document(self) -> Document:
        document: Document = DocumentFactory(patient=self.patient)
        return document

    @cached_property
    def plan(self) -> FollowUpPlan:
        return plan_services.plan_start(
            patient=self.patient,
            pathway=Pathway.objects.get(code="prostate-post-prostatectomy"),
            anchor_date=timezone.localdate() - dt.timedelta(days=200),
            actor=self.clinician,
        )

    @cached_property
    def item(self) -> WorkItem:
        return raise_item(patient=self.patient)

    @cached_property
    def letter(self) -> Document:
        self.plan  # noqa: B018 - a review needs an open plan
        return review.review_record(
            patient=self.patient, actor=self.clinician, outcome="continue", note="Stable."
        )

    @cached_property
    def enrolled(self) -> Patient:
        """The patient, shared with PKB."""
        pkb_services.enrolment_opt_in(
            attestation="Consented in clinic, paper form filed",
            patient=self.patient,
            actor=self.clinician,
        )
        return self.patient

    @cached_property
    def care_plan(self) -> CarePlan:
        template = CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")
        return care_plan_services.care_plan_create(
            patient=self.patient, template=template, actor=self.clinician
        )

    @cached_property
    def consent(self) -> ConsentRecord:
        """Consent given (so a withdrawal can be recorded)."""
        return care_plan_services.consent_record(
            patient=self.patient,
            topic="Remote monitoring of PSA results",
            method="verbal",
            status="given",
            given_at=timezone.now() - dt.timedelta(days=1),
            actor=self.clinician,
        )

    @cached_property
    def resource(self) -> Resource:
        """A draft in the team's library (waiting for a team admin's approval)."""
        return library_services.resource_create(
            team=self.team,
            data=library_services.ResourceInput(
                title="Living with a PSA test",
                kind=Resource.Kind.LINK,
                url="https://www.nhs.uk/conditions/prostate-cancer/",
            ),
            actor=self.clinician,
        )

    @cached_property
    def leaflet(self) -> Resource:
        """A leaflet (a PDF) in the team's library."""
        return library_resource(self.team, title="After surgery", leaflet=True)

    @cached_property
    def questionnaire_response(self) -> QuestionnaireResponse:
        """A PHQ-9 entered by a clinician (all "not at all": no alert)."""
        questionnaire = questionnaire_get(code="phq-9")
        return questionnaire_services.record_response(
            patient=self.patient,
            questionnaire=questionnaire,
            response_json={
                "resourceType": "QuestionnaireResponse",
                "status": "completed",
                "authored": timezone.now().isoformat(),
                "item": [
                    {"linkId": str(n), "answer": [{"valueCoding": {"code": "LA6568-5"}}]}
                    for n in range(1, 10)
                ],
            },
            source=QuestionnaireResponse.Source.CLINICIAN,
            actor=self.clinician,
        )

    @cached_property
    def patient_entry(self) -> Result:
        """A body weight the patient recorded in PKB, not yet seen by a clinician."""
        result: Result = ResultFactory(
            patient=self.patient,
            category=Result.Category.PATIENT,
            source_system="PKB",
            service_code="29463-7",
            service_name="Body weight",
        )
        ObservationFactory(
            result=result, code="29463-7", name="Body weight", value_text="81.4", units="kg"
        )
        return result

    @cached_property
    def held_result(self) -> Result:
        """A lab result shared with PKB and held for review (the publication URLs' item)."""
        ReleasePolicy.objects.create(team=self.team, category="lab", mode="hold")
        result = self.result
        pkb_services.enrolment_opt_in(
            attestation="Consented in clinic, paper form filed",
            patient=self.patient,
            actor=self.clinician,
        )
        return result


Kwargs = Callable[[World], dict[str, Any]]


def _none(world: World) -> dict[str, Any]:
    return {}


def _patient(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id}


def _enrolled(world: World) -> dict[str, Any]:
    return {"public_id": world.enrolled.public_id}


def _document(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "document_id": world.document.public_id}


def _api_document(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "document_public_id": world.document.public_id}


def _plan(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "plan_id": world.plan.public_id}


def _item(world: World) -> dict[str, Any]:
    return {"public_id": world.item.public_id}


def _patient_with_item(world: World) -> dict[str, Any]:
    world.item  # noqa: B018 - the patient has an open work item
    return {"public_id": world.patient.public_id}


def _patient_item(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "item_id": world.item.public_id}


def _publication(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "item_id": world.held_result.public_id}


def _letter(world: World) -> dict[str, Any]:
    return {"document_id": world.letter.public_id}


def _team(world: World) -> dict[str, Any]:
    return {"team_id": world.team.public_id}


def _care_plan(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "care_plan_id": world.care_plan.public_id}


def _care_plan_version(world: World) -> dict[str, Any]:
    return {**_care_plan(world), "number": 1}


def _care_plan_section(world: World) -> dict[str, Any]:
    return {**_care_plan(world), "position": 1}


def _consent(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "consent_id": world.consent.public_id}


def _resource(world: World) -> dict[str, Any]:
    return {"resource_id": world.resource.public_id}


def _leaflet(world: World) -> dict[str, Any]:
    return {"resource_id": world.leaflet.public_id}


def _questionnaire(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "code": "phq-9"}


def _questionnaire_response(world: World) -> dict[str, Any]:
    return {
        "public_id": world.patient.public_id,
        "response_id": world.questionnaire_response.public_id,
    }


def _patient_entry(world: World) -> dict[str, Any]:
    return {"public_id": world.patient.public_id, "result_id": world.patient_entry.public_id}


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    get: Access
    kwargs: Kwargs = _none
    # Writing requests: method ("post", "put", "patch", "delete") -> expectations. An allowed
    # write is sent with ``data`` (empty: the form or serializer answers with its errors).
    writes: dict[str, Access] = field(default_factory=dict)
    data: Callable[[World], dict[str, Any]] = _none
    api: bool = False  # authenticated with API credentials rather than a session


def api_read() -> Access:
    return scoped_read(anon=401)


def api_write(ok: Code) -> Access:
    return scoped_write(ok, anon=401)


MATRIX: dict[str, Row] = {
    # -- sign-in and operations
    "login": Row(get=everyone(200, anon=200), writes={"post": everyone(200, anon=200)}),
    "logout": Row(
        get=everyone(405, anon=405), writes={"post": everyone(SIGNED_OUT, anon=SIGNED_OUT)}
    ),
    # The two-factor steps are every signed-in user's own. The actors here have no
    # authenticator yet: the code step asks for the emailed set-up code (and refuses the
    # matrix's code), and set-up opens only after that code, never on the password alone.
    "account_two_factor": Row(get=everyone(200), writes={"post": everyone(200)}),
    # Anonymous too is sent to the code step (which sends them on to log in): the set-up
    # page answers a wrong password's session and nobody's alike.
    "account_two_factor_enrol": Row(
        get=everyone(302, anon=302), writes={"post": everyone(302, anon=302)}
    ),
    "account_logout_everywhere": Row(get=everyone(200), writes={"post": everyone(SIGNED_OUT)}),
    "healthz": Row(get=everyone(200, anon=200)),
    # Ready or not depends on the services around the test run, not on who asks.
    "readyz": Row(get=everyone(frozenset({200, 503}), anon=frozenset({200, 503}))),
    # Prometheus scrapes with a staff account's credentials.
    "metrics": Row(
        get=Access(401, viewer=403, clinician=403, team_admin=403, other=403, superuser=200)
    ),
    "api-schema": Row(get=everyone(200, anon=401)),
    "api-docs": Row(get=everyone(200, anon=401)),
    # -- rms: the clinician pages
    "rms:home": Row(get=everyone(302)),
    # Absent unless the demo's mailbox is the email backend (not here); with it, team admins
    # and staff only: tests/rms/test_demo_mailbox.py.
    "rms:demo_mailbox": Row(get=everyone(404)),
    "rms:patient_list": Row(get=everyone(200)),
    "rms:patient_create": Row(
        # Another team's clinician registers into their own team; the superuser has none.
        get=Access(LOGIN, viewer=403, clinician=200, team_admin=200, other=200, superuser=403),
        writes={
            "post": Access(
                LOGIN, viewer=403, clinician=200, team_admin=200, other=200, superuser=403
            )
        },
    ),
    "rms:patient_detail": Row(kwargs=_patient, get=scoped_read()),
    "rms:patient_edit": Row(
        kwargs=_patient, get=scoped_write(200), writes={"post": scoped_write(200)}
    ),
    "rms:document_detail": Row(kwargs=_document, get=scoped_read()),
    # -- audit: the trail of one patient, for the team admins of the patient's team
    "audit:patient": Row(kwargs=_patient, get=team_admin_only()),
    "audit:patient_export": Row(kwargs=_patient, get=team_admin_only()),
    # -- pkb: sharing with PKB
    "pkb:patient_panel": Row(kwargs=_patient, get=scoped_read()),
    # GET shows what sharing would send and hold; POST with the consent shares.
    "pkb:opt_in": Row(
        kwargs=_patient,
        get=scoped_write(200),
        writes={"post": scoped_write(302)},
        data=lambda world: {"attestation": "Consented in clinic, paper form filed"},
    ),
    # The patient is not shared: the allowed are sent back to the record.
    "pkb:withdraw": Row(kwargs=_patient, get=scoped_write(302), writes={"post": scoped_write(302)}),
    "pkb:invitation_resend": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "pkb:publication_release": Row(
        kwargs=_publication, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "pkb:publication_hold": Row(
        kwargs=_publication, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "pkb:delivery": Row(get=staff_only(200)),
    "pkb:delivery_patient": Row(kwargs=_patient, get=staff_only(200)),
    "pkb:connection_resume": Row(get=NOT_ALLOWED_METHOD, writes={"post": staff_only(302)}),
    # -- careplans: follow-up plans
    "careplans:patient_plans": Row(kwargs=_patient, get=scoped_read()),
    "careplans:plan_start": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "careplans:plan_detail": Row(kwargs=_plan, get=scoped_read()),
    "careplans:plan_pause": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "careplans:plan_resume": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "careplans:plan_end": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "careplans:plan_interval": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "careplans:plan_rule": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "careplans:plan_add_test": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "careplans:plan_event": Row(
        kwargs=_plan, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "charts:patient_charts": Row(kwargs=_patient, get=scoped_read()),
    # -- care plans and consent (an empty form is answered with its errors)
    "care_plans:patient_care_plans": Row(kwargs=_patient, get=scoped_read()),
    "care_plans:care_plan_create": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(400)}
    ),
    "care_plans:care_plan_detail": Row(kwargs=_care_plan, get=scoped_read()),
    "care_plans:care_plan_version": Row(kwargs=_care_plan_version, get=scoped_read()),
    "care_plans:care_plan_compare": Row(kwargs=_care_plan, get=scoped_read()),
    "care_plans:care_plan_section_edit": Row(
        kwargs=_care_plan_section, get=scoped_write(200), writes={"post": scoped_write(200)}
    ),
    "care_plans:patient_consents": Row(kwargs=_patient, get=scoped_read()),
    "care_plans:consent_create": Row(
        kwargs=_patient, get=scoped_write(200), writes={"post": scoped_write(200)}
    ),
    "care_plans:consent_withdraw": Row(
        kwargs=_consent, get=scoped_write(200), writes={"post": scoped_write(200)}
    ),
    # -- the resource library: the team's resources (another team's is a 404); clinicians
    # and team admins add and edit, team admins approve and retire
    "library:resource_list": Row(get=everyone(200)),
    "library:resource_create": Row(
        # Another team's clinician adds to their own team's library; the superuser has none.
        get=Access(LOGIN, viewer=403, clinician=200, team_admin=200, other=200, superuser=403),
        writes={
            "post": Access(
                LOGIN, viewer=403, clinician=200, team_admin=200, other=200, superuser=403
            )
        },
    ),
    "library:resource_edit": Row(
        kwargs=_resource, get=scoped_write(200), writes={"post": scoped_write(200)}
    ),
    # A leaflet's PDF: any member of the team; another team's does not exist.
    "library:resource_leaflet": Row(kwargs=_leaflet, get=scoped_read()),
    "library:resource_approve": Row(
        kwargs=_resource,
        get=team_admin_only(),
        # An empty form is answered with its errors.
        writes={"post": team_admin_only()},
    ),
    "library:resource_retire": Row(
        kwargs=_resource,
        get=NOT_ALLOWED_METHOD,
        writes={"post": team_admin_only(302)},
    ),
    "library:patient_panel": Row(kwargs=_patient, get=scoped_read()),
    "library:share_resource": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "library:share_pack": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    "library:milestone": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(200)}
    ),
    # -- questionnaires
    "questionnaires:patient": Row(kwargs=_patient, get=scoped_read()),
    "questionnaires:send": Row(
        kwargs=_patient, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(400)}
    ),
    "questionnaires:latest": Row(kwargs=_patient, get=scoped_read()),
    "questionnaires:enter": Row(
        kwargs=_questionnaire, get=scoped_write(200), writes={"post": scoped_write(400)}
    ),
    "questionnaires:response": Row(kwargs=_questionnaire_response, get=scoped_read()),
    # -- what the patient entered in PKB
    "patient_data:panel": Row(kwargs=_patient, get=scoped_read()),
    "patient_data:mark_seen": Row(
        kwargs=_patient_entry, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "review:patient_review": Row(
        kwargs=_patient, get=scoped_read(), writes={"post": scoped_write(400)}
    ),
    "review:plan_summary": Row(kwargs=_patient, get=scoped_read()),
    "review:plan_decisions": Row(kwargs=_patient, get=scoped_read()),
    "review:letter_pdf": Row(kwargs=_letter, get=scoped_read()),
    # -- worklists
    "worklists:list": Row(get=everyone(200)),
    "worklists:caseload": Row(get=everyone(200)),
    "worklists:tabs": Row(get=everyone(200)),
    "worklists:patient_act": Row(
        kwargs=_patient_with_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklists:yield": Row(
        get=Access(LOGIN, viewer=403, clinician=403, team_admin=200, other=403, superuser=403)
    ),
    "worklists:bulk": Row(
        get=NOT_ALLOWED_METHOD,
        writes={
            "post": Access(LOGIN, 403, clinician=302, team_admin=302, other=302, superuser=302)
        },
    ),
    "worklists:assign": Row(
        kwargs=_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklists:start": Row(
        kwargs=_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklists:complete": Row(
        kwargs=_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklists:dismiss": Row(
        kwargs=_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklist_panels:patient_items": Row(kwargs=_patient, get=scoped_read()),
    "worklist_panels:start": Row(
        kwargs=_patient_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklist_panels:assign": Row(
        kwargs=_patient_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklist_panels:complete": Row(
        kwargs=_patient_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    "worklist_panels:dismiss": Row(
        kwargs=_patient_item, get=NOT_ALLOWED_METHOD, writes={"post": scoped_write(302)}
    ),
    # -- the REST API (token)
    "api:inbound-hl7": Row(
        api=True,
        get=Access(401, viewer=403, clinician=403, team_admin=403, other=403, superuser=405),
        writes={
            # An empty body is answered with an HL7 rejection (MSA AR/AE), over HTTP 200.
            "post": Access(401, viewer=403, clinician=403, team_admin=403, other=403, superuser=200)
        },
    ),
    "api:results": Row(
        api=True,
        get=Access(401, viewer=403, clinician=403, team_admin=403, other=403, superuser=405),
        writes={
            "post": Access(401, viewer=403, clinician=403, team_admin=403, other=403, superuser=400)
        },
    ),
    "api:patient-list": Row(
        api=True,
        get=everyone(200, anon=401),
        writes={
            "post": Access(401, viewer=403, clinician=400, team_admin=400, other=400, superuser=403)
        },
    ),
    "api:patient-detail": Row(
        api=True,
        kwargs=_patient,
        get=api_read(),
        writes={"put": api_write(400), "patch": api_write(200)},
    ),
    "api:patient-diagnoses": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-results": Row(api=True, kwargs=_patient, get=api_read()),
    "api:patient-appointments": Row(api=True, kwargs=_patient, get=api_read()),
    "api:patient-documents": Row(api=True, kwargs=_patient, get=api_read()),
    "api:patient-document-detail": Row(api=True, kwargs=_api_document, get=api_read()),
    "api:patient-enrolment": Row(
        api=True,
        kwargs=_enrolled,
        get=api_read(),
        # Already shared: a repeated opt-in answers 200 with the enrolment.
        writes={"post": api_write(200), "delete": api_write(200)},
    ),
    "api:patient-enrolment-preview": Row(api=True, kwargs=_patient, get=api_write(200)),
    "api:patient-plans": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-care-plans": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-care-plan": Row(api=True, kwargs=_care_plan, get=api_read()),
    "api:patient-care-plan-versions": Row(
        api=True,
        kwargs=_care_plan,
        get=everyone(405, anon=401),
        writes={"post": api_write(400)},
    ),
    "api:patient-consents": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-consent-withdraw": Row(
        api=True, kwargs=_consent, get=everyone(405, anon=401), writes={"post": api_write(400)}
    ),
    # A team's library: any role of the team; another team's is a 404.
    "api:team-resources": Row(api=True, kwargs=_team, get=api_read()),
    "api:patient-resource-shares": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-milestones": Row(
        api=True, kwargs=_patient, get=everyone(405, anon=401), writes={"post": api_write(400)}
    ),
    "api:questionnaires": Row(api=True, get=everyone(200, anon=401)),
    "api:patient-questionnaire-requests": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:patient-questionnaire-responses": Row(
        api=True, kwargs=_patient, get=api_read(), writes={"post": api_write(400)}
    ),
    "api:worklist": Row(api=True, get=everyone(200, anon=401)),
    "api:worklist-detail": Row(
        api=True,
        kwargs=_item,
        get=Access(401, viewer=200, clinician=200, team_admin=200, other=404, superuser=404),
    ),
}


@dataclass(frozen=True)
class AdminCheck:
    name: str
    kwargs: Kwargs
    get: Access


# Django admin is staff only: everyone else is sent to its login page.
_ADMIN = Access(
    ADMIN_LOGIN,
    viewer=ADMIN_LOGIN,
    clinician=ADMIN_LOGIN,
    team_admin=ADMIN_LOGIN,
    other=ADMIN_LOGIN,
    superuser=200,
)
ADMIN_CHECKS = [
    AdminCheck("admin:index", _none, _ADMIN),
    AdminCheck("admin:rms_patient_changelist", _none, _ADMIN),
    AdminCheck("admin:rms_patient_change", lambda w: {"object_id": w.patient.pk}, _ADMIN),
]


# --- walking the URL configuration ---------------------------------------------------------


def _url_names(
    patterns: list[URLPattern | URLResolver] | None = None, namespace: str = "", route: str = ""
) -> Iterator[str]:
    """Every URL of the site by its namespaced name; the admin's as the one ``admin:*``, and an
    unnamed URL by its route (which cannot be declared: name it)."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            if entry.namespace == "admin":
                yield "admin:*"
                continue
            yield from _url_names(entry.url_patterns, inner, route + str(entry.pattern))
        elif entry.name:
            yield f"{namespace}{entry.name}"
        else:
            yield f"<unnamed: /{route}{entry.pattern}>"


def test_every_url_has_a_declared_access() -> None:
    names = set(_url_names())
    undeclared = sorted(names - set(MATRIX) - {"admin:*"})
    assert not undeclared, "\n".join(
        f"declare the access of {name} in tests/security/test_permission_matrix.py MATRIX"
        for name in undeclared
    )


def test_every_declared_row_names_a_url() -> None:
    stale = sorted(set(MATRIX) - set(_url_names()))
    assert not stale, f"rows for URLs that no longer exist: {stale}"


# --- checking one row ----------------------------------------------------------------------

# Rows that change when a request is merely served or refused, not when data changes.
_NOT_DATA = {
    "rms.accessevent",
    "sessions.session",
    "authtoken.token",
    "knox.authtoken",
    "admin.logentry",
}
_NOT_DATA_APPS = {"axes", "otp_totp", "otp_static"}


def _holds_data(model: type[Model]) -> bool:
    return model._meta.label_lower not in _NOT_DATA and model._meta.app_label not in _NOT_DATA_APPS


def _fingerprint() -> dict[str, str]:
    """A hash of every table that holds data (many-to-many tables included)."""
    prints = {}
    for model in apps.get_models(include_auto_created=True):
        if _holds_data(model):
            rows = model._base_manager.order_by("pk").values_list()
            prints[model._meta.label_lower] = hashlib.sha256(repr(list(rows)).encode()).hexdigest()
    return prints


@cache
def _tables_without_data() -> frozenset[str]:
    models = apps.get_models(include_auto_created=True)
    return frozenset(model._meta.db_table for model in models if not _holds_data(model))


_WRITE_SQL = re.compile(r'^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"?(\w+)"?', re.IGNORECASE)
_READ_SQL = re.compile(r"^\s*\(?\s*(?:SELECT|SAVEPOINT|RELEASE|ROLLBACK\s+TO)\b", re.IGNORECASE)


class _DataWrites:
    """Sees every SQL statement of a request (``connection.execute_wrapper``): ``seen`` when
    one of them may have written to a table that holds data. A refused request that wrote
    nothing but the access log changed no data, and its tables need not be compared; any
    statement not known to be a read or such a write counts as a write."""

    def __init__(self) -> None:
        self.seen = False

    def __call__(self, execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        if not self.seen:
            text = str(sql)
            write = _WRITE_SQL.match(text)
            if write is not None:
                self.seen = write.group(1) not in _tables_without_data()
            else:
                self.seen = _READ_SQL.match(text) is None
        return execute(sql, params, many, context)


def _client(world: World, actor: str, api: bool) -> Client:
    client = world.cast.client()
    if world.users[actor] is None:
        return client
    if api:
        client.defaults.update(world.cast.api_headers[actor])
    else:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.cast.session_keys[actor]
    return client


def _outcome(response: Any) -> Code:
    if response.status_code == 302:
        location = response.headers.get("Location", "")
        if location.startswith(reverse("admin:login")):
            return ADMIN_LOGIN
        if location.startswith(reverse(settings.LOGIN_URL)):
            return LOGIN if "next=" in location else SIGNED_OUT
    return int(response.status_code)


def _request(client: Client, method: str, url: str, data: dict[str, Any], api: bool) -> Any:
    if method == "get":
        return client.get(url)
    if api or method != "post":
        return getattr(client, method)(url, data=data, content_type="application/json")
    return client.post(url, data=data)


def _check(world: World, row: Row, url: str, method: str, access: Access) -> list[str]:
    problems = []
    data = row.data(world) if method != "get" else {}
    clients = {actor: _client(world, actor, row.api) for actor in ACTORS}
    before: dict[str, str] | None = None  # the data every actor starts from, read if needed
    for actor in ACTORS:
        expected = access.of(actor)
        refused_write = method != "get" and expected in REFUSED
        after: dict[str, str] | None = None
        # Each actor starts from the same data: whatever an allowed request changes is undone.
        with transaction.atomic():
            writes = _DataWrites()
            with connection.execute_wrapper(writes):
                got = _outcome(_request(clients[actor], method, url, data, row.api))
            if got != expected and not (isinstance(expected, frozenset) and got in expected):
                problems.append(f"{method.upper()} as {actor}: expected {expected}, got {got}")
            if refused_write and writes.seen:
                after = _fingerprint()
            transaction.set_rollback(True)
        if after is not None:
            # Undone: the data now is what every actor started from.
            before = before if before is not None else _fingerprint()
            changed = sorted(k for k, v in after.items() if before.get(k) != v)
            if changed:
                problems.append(f"{method.upper()} as {actor} was refused but changed {changed}")
    return problems


@pytest.fixture(scope="module")
def cast(django_db_setup: None, django_db_blocker: Any) -> Iterator[Cast]:
    """The cast, made once for the module in a transaction rolled back at its end. Each test
    runs in a savepoint inside it (pytest-django), so what a test makes is gone after it."""
    # The matrix is about team scope and roles: a second factor, where the settings ask for
    # one, is the sign-in tests' business. force_login stands in for a verified sign-in.
    with (
        django_db_blocker.unblock(),
        override_settings(RMS_REQUIRE_2FA=False),
        transaction.atomic(),
    ):
        yield Cast()
        transaction.set_rollback(True)


@pytest.fixture
def world(cast: Cast, db: None) -> World:
    return World(cast)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_access(world: World, name: str) -> None:
    row = MATRIX[name]
    url = reverse(name, kwargs=row.kwargs(world))
    problems = _check(world, row, url, "get", row.get)
    for method, access in row.writes.items():
        problems += _check(world, row, url, method, access)
    assert not problems, f"{name} ({url}):\n" + "\n".join(problems)


@pytest.mark.parametrize("check", ADMIN_CHECKS, ids=lambda c: c.name)
def test_admin_access(world: World, check: AdminCheck) -> None:
    url = reverse(check.name, kwargs=check.kwargs(world))
    problems = _check(world, Row(get=check.get), url, "get", check.get)
    assert not problems, f"{check.name} ({url}):\n" + "\n".join(problems)


def test_a_refused_write_that_changes_data_is_reported(world: World) -> None:
    """The checker itself: a write declared refused that is allowed, and changes data, is
    reported twice (the status, and the data it changed)."""
    declared = Access(LOGIN, viewer=403, clinician=403, team_admin=302, other=404, superuser=404)
    row = Row(
        kwargs=_patient,
        get=NOT_ALLOWED_METHOD,
        writes={"post": declared},
        data=lambda world: {"attestation": "Consented in clinic, paper form filed"},
    )
    url = reverse("pkb:opt_in", kwargs=_patient(world))
    problems = _check(world, row, url, "post", declared)
    assert problems[0] == "POST as clinician: expected 403, got 302"
    assert problems[1].startswith("POST as clinician was refused but changed [")
    assert "pkb_bridge.enrolment" in problems[1]
    assert len(problems) == 2
