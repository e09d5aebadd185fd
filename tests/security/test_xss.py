"""Stored and reflected cross-site scripting: hostile text in every free-text field that a page
shows stays text.

One patient's record is filled, through the services (or the factories where the feeds would
write it), with script payloads in every free-text field a clinician, an administrator, the
patient (through PKB) or PKB itself can put there. Each page that shows that text is then
rendered and parsed: the payloads must come back as text (escaped in the HTML) and the page
must hold no live markup of them — no ``<script>`` element but the static ones, no ``on*``
event handler attribute, no ``javascript:`` link.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from careplans.care_plans import services as care_plan_services
from careplans.followup.services import plans as plan_services
from careplans.library import services as library_services
from careplans.models import (
    CarePlan,
    CarePlanTemplate,
    ConsentRecord,
    FollowUpPlan,
    InformationPack,
    Milestone,
    Pathway,
    Questionnaire,
    QuestionnaireResponse,
    Resource,
)
from careplans.questionnaires import services as questionnaire_services
from devtools.sandbox import SandboxServer, SandboxState
from pkb_bridge import services as pkb_services
from pkb_bridge.fhir import services as fhir_services
from pkb_bridge.models import OutboundMessage
from pkb_bridge.transport import PkbTransport
from rms.accounts.services import ENROLMENT_ALLOWED
from rms.models import Document, Patient, Role, Team
from tests.factories import (
    AppointmentFactory,
    DiagnosisFactory,
    DocumentFactory,
    MembershipFactory,
    ObservationFactory,
    PatientFactory,
    ResultFactory,
    UserFactory,
)
from tests.worklists.helpers import raise_item
from worklists import services as work_item_services

pytestmark = pytest.mark.django_db

# The payloads, one per way out of a text node or an attribute value, and one template
# expression that a server-side template engine would evaluate to 49.
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(1)>"
JS_URL = "javascript:alert(1)"
TEMPLATE = "{{7*7}}"
PAYLOADS = (SCRIPT, IMG, SVG, JS_URL, TEMPLATE)
# All five in one string, for the fields long enough to hold it (107 characters).
ALL = " ".join(PAYLOADS)
# A URL the validators accept (no whitespace) that breaks out of an href if unescaped.
HOSTILE_URL = "https://example.org/leaflet?a=\"><svg/onload=alert(1)>&b='><script>alert(1)</script>"

# Markup that must never reach a page unescaped, in the forms the payloads above take.
LIVE_FORMS = ("<script>alert", "<img src=x", "<svg onload", "<svg/onload")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "poster"}
DANGEROUS_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


# ---------------------------------------------------------------------------
# The check
# ---------------------------------------------------------------------------
class _Markup(HTMLParser):
    """Collects what a browser would run from a page, and the page's text and attribute
    values (unescaped, as the browser reads them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.text: list[str] = []
        self.attribute_values: list[str] = []
        self._script: dict[str, str | None] | None = None
        self._script_body: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag}> has an event handler {name}={value!r}")
            if value is None:
                continue
            self.attribute_values.append(value)
            plain = "".join(ch for ch in value if ch > " ").lower()
            if name in URL_ATTRIBUTES and plain.startswith(DANGEROUS_SCHEMES):
                self.problems.append(f"<{tag}> has {name}={value!r}")
        if tag == "script":
            self._script, self._script_body = named, []

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag == "script":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag != "script" or self._script is None:
            return
        attrs, body = self._script, "".join(self._script_body)
        self._script = None
        src = attrs.get("src") or ""
        if attrs.get("type") == "application/json":
            # Data for the charts (json_script): must parse whole, so nothing broke out of it.
            try:
                json.loads(body)
            except ValueError:
                self.problems.append(f"a JSON data island does not parse: {body[:80]!r}")
        elif not src.startswith("/") or src.startswith("//") or body.strip():
            # Ours are files of this origin (static files, the admin's translations).
            self.problems.append(f"a script that is not one of ours: src={src!r} {body[:80]!r}")

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script_body.append(data)
        else:
            self.text.append(data)


def assert_inert(html: str, *, expect: tuple[str, ...] = (), where: str = "") -> None:
    """No live markup in ``html``; each string of ``expect`` is on the page as text or as an
    attribute's value (so the test saw the hostile text reach the page, escaped)."""
    for form in LIVE_FORMS:
        assert form not in html, f"{where}: {form!r} is in the page unescaped"
    parser = _Markup()
    parser.feed(html)
    parser.close()
    assert not parser.problems, f"{where}: {parser.problems}"
    shown = "".join(parser.text) + "\n" + "\n".join(parser.attribute_values)
    for text in expect:
        assert text in shown, f"{where}: {text!r} is not on the page"


def test_the_check_finds_live_markup_and_accepts_escaped_text() -> None:
    from django.utils.html import escape

    for live in (
        f"<p>{SCRIPT}</p>",
        f'<input value="{IMG}">',
        f"<a title='{SVG}'>x</a>",
        f'<a href="{JS_URL}">x</a>',
        '<a href=" JaVaScRiPt:alert(1)">x</a>',
        '<div onclick="x()">x</div>',
        "<script>var a = 1;</script>",
        '<script src="https://evil.example/x.js"></script>',
        '<script type="application/json">{"a": "</script><script>alert(1)</script>',
    ):
        with pytest.raises(AssertionError):
            assert_inert(live)
    assert_inert(
        f'<p>{escape(ALL)}</p><input value="{escape(ALL)}">'
        '<script src="/static/x.js"></script><script type="application/json">{"a": 1}</script>',
        expect=PAYLOADS,
    )
    with pytest.raises(AssertionError):
        assert_inert("<p>nothing hostile</p>", expect=(SCRIPT,))


# ---------------------------------------------------------------------------
# The hostile record
# ---------------------------------------------------------------------------
@dataclass
class World:
    team: Team
    clinician: User
    team_admin: User
    superuser: User
    patient: Patient
    document: Document
    plan: FollowUpPlan
    care_plan: CarePlan
    consent: ConsentRecord
    resource: Resource
    pack: InformationPack
    response: QuestionnaireResponse
    questionnaire_code: str
    rejected: OutboundMessage


def _questionnaire() -> Questionnaire:
    definition = {
        "resourceType": "Questionnaire",
        "status": "active",
        "title": ALL,
        "item": [
            {"linkId": "1", "text": ALL, "type": "string"},
            {
                "linkId": "2",
                "text": SCRIPT,
                "type": "choice",
                "answerOption": [
                    {"valueCoding": {"code": "a", "display": IMG}},
                    {"valueCoding": {"code": "b", "display": SVG}},
                ],
            },
        ],
    }
    return questionnaire_services.questionnaire_save(
        code="hostile",
        version="1",
        title=ALL,
        description=ALL,
        fhir=definition,
        scoring={},
    )


def _patient_entered(patient: Patient) -> None:
    """An Observation the patient recorded in PKB, filed as PKB's FHIR poll files it."""
    resource = {
        "resourceType": "Observation",
        "id": "hostile-entry",
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://example.org", "code": "XSS", "display": SCRIPT}]},
        "subject": {
            "identifier": {
                "system": "https://fhir.nhs.uk/Id/nhs-number",
                "value": patient.nhs_number,
            }
        },
        "effectiveDateTime": (timezone.now() - dt.timedelta(days=2)).isoformat(),
        "valueQuantity": {"value": 80.5, "unit": IMG},
        "note": [{"text": ALL}],
    }
    inbound = fhir_services.inbound_receive(resource_type="Observation", resource=resource)
    assert inbound.status == "filed", inbound.reason


def _rejected_by_pkb(patient: Patient, clinician: User) -> OutboundMessage:
    """Share the patient with PKB and have PKB (the sandbox) reject the registration with
    hostile text in MSA-3: the delivery pages and the work item quote PKB's words."""
    pkb_services.enrolment_opt_in(
        attestation="Consented in clinic, paper form filed", patient=patient, actor=clinician
    )
    registration = OutboundMessage.objects.get(
        patient=patient, kind=OutboundMessage.Kind.REGISTRATION
    )
    server = SandboxServer(username="rms", password="pw", state=SandboxState())
    server.start()
    try:
        server.set_faults(reject_control_ids=[registration.control_id], ar_text=ALL)
        transport = PkbTransport(server.url, "rms", "pw", connect_timeout_s=2.0, deadline_s=3.0)
        try:
            pkb_services.dispatch(transport=transport, budget_s=10)
        finally:
            transport.close()
    finally:
        server.stop()
    registration.refresh_from_db()
    assert registration.status == OutboundMessage.Status.REJECTED
    return registration


def build_world() -> World:
    team = Team.objects.create(
        code="XSS", name=f"Urology {SVG}", tumour_site="prostate", pkb_team_alias="RXX-XSS"
    )
    clinician = UserFactory(username="clin", first_name=SCRIPT, last_name=IMG)
    MembershipFactory(user=clinician, team=team, role=Role.CLINICIAN)
    team_admin = UserFactory(username="tadmin", first_name=SVG, last_name=TEMPLATE)
    MembershipFactory(user=team_admin, team=team, role=Role.TEAM_ADMIN)
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    MembershipFactory(user=superuser, team=team, role=Role.TEAM_ADMIN)

    patient = PatientFactory(
        teams=[team],
        title="<svg onload=alert()>",
        given_name=SCRIPT,
        family_name=IMG,
        mrn=SVG,
        address_line_1=ALL,
        address_line_2=TEMPLATE,
        address_city=SVG,
        address_county=JS_URL,
        phone_home=SVG,
        phone_work=IMG,
        email="xss@example.org",
    )
    DiagnosisFactory(patient=patient, text=ALL, stage=IMG)
    lab = ResultFactory(
        patient=patient,
        service_name=ALL,
        ordering_clinician=IMG,
        observed_at=timezone.now() - dt.timedelta(days=20),
    )
    ObservationFactory(
        result=lab,
        name=SCRIPT,
        units=IMG,
        reference_range=SVG,
        notes=ALL,
        abnormal_flag="<b>",
        value_text="0.31",
        value_numeric=Decimal("0.31"),
    )
    report = ResultFactory(
        patient=patient,
        category="radiology",
        service_code="MRPR",
        service_name=SVG,
        report_text=f"Findings: {ALL}\nConclusion: {SCRIPT}",
        observed_at=timezone.now() - dt.timedelta(days=25),
    )
    ObservationFactory(
        result=report,
        code="REPORT",
        name=IMG,
        value_type="TX",
        value_text=ALL,
        value_numeric=None,
        units="",
    )
    AppointmentFactory(
        patient=patient, appointment_type=SCRIPT, reason=ALL, location=IMG, clinician=SVG
    )
    document = DocumentFactory(
        patient=patient,
        title=ALL,
        author=IMG,
        content_html=f"<p>Dear Dr {SCRIPT}</p>{IMG}<a href='{JS_URL}'>{SVG}</a>",
    )

    # The library: a hostile resource, approved, in a pack the plan's start shares.
    resource = library_services.resource_create(
        team=team,
        data=library_services.ResourceInput(
            title=ALL, kind=Resource.Kind.LINK, url=HOSTILE_URL, description=ALL
        ),
        actor=clinician,
    )
    library_services.resource_approve(
        resource=resource,
        review_date=timezone.localdate() + dt.timedelta(days=200),
        actor=team_admin,
    )
    pathway = Pathway.objects.get(code="prostate-post-prostatectomy")
    pack = InformationPack.objects.create(
        team=team,
        name=ALL,
        pathway=pathway,
        milestone=Milestone.REMOTE_FOLLOW_UP,
        description=ALL,
    )
    pack.resources.set([resource])

    # The follow-up plan, its changes and their reasons.
    plan = plan_services.plan_start(
        patient=patient,
        pathway=pathway,
        anchor_date=timezone.localdate() - dt.timedelta(days=90),
        actor=clinician,
    )
    plan_services.plan_pause(plan=plan, actor=clinician, reason=ALL)
    plan_services.plan_resume(plan=plan, actor=clinician, reason=SCRIPT)
    plan_services.plan_add_test(
        plan=plan, test_code="XSS", test_name=SCRIPT, every_months=3, actor=clinician, reason=IMG
    )
    library_services.resource_share(patient=patient, resource=resource, actor=clinician)

    # Care plan: a section and a version note, twice, so versions can be compared.
    template = CarePlanTemplate.objects.get(pathway__code="prostate-post-prostatectomy")
    care_plan = care_plan_services.care_plan_create(
        patient=patient, template=template, actor=clinician, note=SVG
    )
    care_plan_services.care_plan_section_update(
        care_plan=care_plan, position=1, heading=ALL, body=ALL, actor=clinician, note=ALL
    )
    care_plan_services.care_plan_section_update(
        care_plan=care_plan,
        position=1,
        heading=SCRIPT,
        body=f"{IMG}\n\n{SVG}",
        actor=clinician,
        note=IMG,
    )

    # Consent given (hostile topic, information and note), then withdrawn (hostile note).
    consent = care_plan_services.consent_record(
        patient=patient,
        topic=ALL,
        method="verbal",
        status="given",
        given_at=timezone.now() - dt.timedelta(hours=2),
        actor=clinician,
        information_given=ALL,
        note=ALL,
    )
    care_plan_services.consent_withdraw(consent=consent, actor=clinician, method="verbal", note=SVG)

    # A questionnaire with hostile title and item texts, answered with hostile free text.
    questionnaire = _questionnaire()
    response = questionnaire_services.record_response(
        patient=patient,
        questionnaire=questionnaire,
        response_json=questionnaire_services.response_json_from_answers(
            questionnaire=questionnaire, answers={"1": ALL, "2": "a"}
        ),
        source="clinician",
        actor=clinician,
    )

    _patient_entered(patient)

    # Work items: one open, one done with a hostile outcome and note, one dismissed.
    raise_item(patient, title=ALL, explanation=ALL)
    done = raise_item(patient, title=SCRIPT, explanation=IMG)
    work_item_services.work_item_complete(item=done, actor=clinician, outcome=IMG, note=ALL)
    dismissed = raise_item(patient, title=SVG, explanation=SVG)
    work_item_services.work_item_dismiss(item=dismissed, actor=clinician, reason=ALL)

    rejected = _rejected_by_pkb(patient, clinician)

    return World(
        team=team,
        clinician=clinician,
        team_admin=team_admin,
        superuser=superuser,
        patient=patient,
        document=document,
        plan=plan,
        care_plan=care_plan,
        consent=consent,
        resource=resource,
        pack=pack,
        response=response,
        questionnaire_code=questionnaire.code,
        rejected=rejected,
    )


def pages(w: World) -> Iterator[tuple[str, str, User, tuple[str, ...]]]:
    """(name, URL, who opens it, text that must be on it) for every page that shows the
    hostile record."""
    p = w.patient.public_id
    c = w.care_plan.public_id
    clin, admin, root = w.clinician, w.team_admin, w.superuser
    # Patient list, record and the record's htmx panels.
    yield "patient list", reverse("rms:patient_list"), clin, (SCRIPT, IMG)
    yield "patient list search", reverse("rms:patient_list") + "?q=" + SCRIPT, clin, (SCRIPT,)
    yield "patient record", reverse("rms:patient_detail", args=[p]), clin, PAYLOADS
    yield "patient edit", reverse("rms:patient_edit", args=[p]), clin, (SCRIPT, IMG, ALL)
    yield "work items panel", reverse("worklist_panels:patient_items", args=[p]), clin, (ALL,)
    yield "charts panel", reverse("charts:patient_charts", args=[p]), clin, ()
    yield "plan summary panel", reverse("review:plan_summary", args=[p]), clin, ()
    yield "plan decisions panel", reverse("review:plan_decisions", args=[p]), clin, (ALL,)
    yield "PKB panel", reverse("pkb:patient_panel", args=[p]), clin, ()
    yield "PKB withdraw form", reverse("pkb:withdraw", args=[p]), clin, ()
    yield "patient data panel", reverse("patient_data:panel", args=[p]), clin, (SCRIPT, IMG, ALL)
    yield (
        "document",
        reverse("rms:document_detail", args=[p, w.document.public_id]),
        clin,
        (
            ALL,
            IMG,
            SCRIPT,
        ),
    )
    # Worklist and caseload.
    yield "worklist", reverse("worklists:list"), clin, (ALL,)
    yield (
        "worklist filtered",
        (reverse("worklists:list") + f"?show={SCRIPT}&kind={IMG}&team={SVG}&page={JS_URL}"),
        clin,
        (),
    )
    yield "caseload", reverse("worklists:caseload"), clin, (SCRIPT,)
    yield "caseload search", reverse("worklists:caseload") + f"?q={IMG}&sort={SVG}", clin, (IMG,)
    yield "alert yield", reverse("worklists:yield"), admin, ()
    # Virtual review (the letter's PDF is not HTML).
    yield "virtual review", reverse("review:patient_review", args=[p]), clin, (SCRIPT,)
    # Follow-up plans.
    yield "plans", reverse("careplans:patient_plans", args=[p]), clin, ()
    yield (
        "plan detail",
        reverse("careplans:plan_detail", args=[p, w.plan.public_id]),
        clin,
        (
            ALL,
            SCRIPT,
        ),
    )
    # Care plans, their versions and the comparison; consent.
    yield "care plans", reverse("care_plans:patient_care_plans", args=[p]), clin, ()
    yield "care plan", reverse("care_plans:care_plan_detail", args=[p, c]), clin, (SCRIPT, IMG)
    yield "care plan v2", reverse("care_plans:care_plan_version", args=[p, c, 2]), clin, (ALL,)
    yield (
        "care plan compare",
        (reverse("care_plans:care_plan_compare", args=[p, c]) + "?from_version=2&to_version=3"),
        clin,
        (SCRIPT, IMG),
    )
    yield (
        "care plan section edit",
        (reverse("care_plans:care_plan_section_edit", args=[p, c, 1])),
        clin,
        (SCRIPT,),
    )
    yield "consent", reverse("care_plans:patient_consents", args=[p]), clin, (ALL, SVG)
    yield "consent form", reverse("care_plans:consent_create", args=[p]), clin, ()
    yield (
        "consent withdraw form",
        (reverse("care_plans:consent_withdraw", args=[p, w.consent.public_id])),
        clin,
        (ALL,),
    )
    # Resource library and information packs.
    yield "library", reverse("library:resource_list"), clin, (ALL,)
    yield (
        "resource edit",
        reverse("library:resource_edit", args=[w.resource.public_id]),
        admin,
        (
            ALL,
            HOSTILE_URL,
        ),
    )
    yield (
        "resource approve",
        (reverse("library:resource_approve", args=[w.resource.public_id])),
        admin,
        (ALL, HOSTILE_URL),
    )
    yield "library panel", reverse("library:patient_panel", args=[p]), clin, (ALL,)
    # Questionnaires.
    yield "questionnaires panel", reverse("questionnaires:patient", args=[p]), clin, (ALL,)
    yield "questionnaire latest", reverse("questionnaires:latest", args=[p]), clin, ()
    yield (
        "questionnaire entry",
        (reverse("questionnaires:enter", args=[p, w.questionnaire_code])),
        clin,
        (ALL, SCRIPT, IMG, SVG),
    )
    yield (
        "questionnaire response",
        (reverse("questionnaires:response", args=[p, w.response.public_id])),
        clin,
        (ALL,),
    )
    # PKB delivery (PKB's rejection text).
    yield "PKB delivery", reverse("pkb:delivery"), root, (ALL,)
    yield "PKB delivery patient", reverse("pkb:delivery_patient", args=[p]), root, (ALL,)
    # Two-factor set-up: the QR code is inserted as markup, so it must carry none of the user's.
    yield "two-factor set-up", reverse("account_two_factor_enrol"), clin, (SCRIPT,)
    # The audit trail.
    yield "audit trail", reverse("audit:patient", args=[p]), admin, ()
    # Django admin, a few change lists and change forms.
    yield "admin patients", reverse("admin:rms_patient_changelist"), root, (SCRIPT,)
    yield (
        "admin patient",
        reverse("admin:rms_patient_change", args=[w.patient.pk]),
        root,
        (
            SCRIPT,
            ALL,
        ),
    )
    yield "admin work items", reverse("admin:worklists_workitem_changelist"), root, (ALL,)
    yield "admin resources", reverse("admin:careplans_resource_changelist"), root, (ALL,)
    yield (
        "admin resource",
        reverse("admin:careplans_resource_change", args=[w.resource.pk]),
        root,
        (HOSTILE_URL,),
    )
    yield (
        "admin outbound",
        reverse("admin:pkb_bridge_outboundmessage_change", args=[w.rejected.pk]),
        root,
        (ALL,),
    )


@pytest.fixture
def world(db: None) -> World:
    return build_world()


def test_every_page_that_shows_the_hostile_record_shows_it_as_text(world: World) -> None:
    """One record, every page: a failure names the page and what was live on it."""
    failures: list[str] = []
    clients: dict[int, Client] = {}
    for name, url, user, expect in pages(world):
        client = clients.get(user.pk)
        if client is None:
            client = clients[user.pk] = Client()
            client.force_login(user)
            # As after the emailed set-up code, which alone opens the set-up page (after the
            # first request, which stamps the session as a new sign-in).
            client.get(reverse("login"))
            session = client.session
            session[ENROLMENT_ALLOWED] = True
            session.save()
        response = client.get(url)
        if response.status_code != 200:
            failures.append(f"{name}: {url} answered {response.status_code}")
            continue
        try:
            assert_inert(response.content.decode(), expect=expect, where=name)
        except AssertionError as exc:
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_the_htmx_panels_are_inert_as_fragments_too(world: World) -> None:
    client = Client(headers={"HX-Request": "true"})
    client.force_login(world.clinician)
    p = world.patient.public_id
    for url in (
        reverse("worklist_panels:patient_items", args=[p]),
        reverse("review:plan_decisions", args=[p]),
        reverse("patient_data:panel", args=[p]),
        reverse("questionnaires:patient", args=[p]),
        reverse("library:patient_panel", args=[p]),
        reverse("pkb:patient_panel", args=[p]),
        reverse("care_plans:patient_care_plans", args=[p]),
        reverse("care_plans:patient_consents", args=[p]),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_inert(response.content.decode(), where=url)


def test_the_worklist_answers_to_actions_are_inert(world: World) -> None:
    """The rows and the bulk bar's answer that htmx swaps in after an action, with a hostile
    ``next`` (where the page without JavaScript returns to)."""
    client = Client(headers={"HX-Request": "true"})
    client.force_login(world.clinician)
    item = world.patient.work_items.get(status="open", title=ALL)
    start = client.post(reverse("worklists:start", args=[item.public_id]), {"next": JS_URL})
    assert start.status_code == 200
    assert_inert(start.content.decode(), expect=(ALL,), where="row")
    bulk = client.post(
        reverse("worklists:bulk"),
        {"items": [str(item.public_id)], "action": "assign_me", "next": JS_URL},
    )
    assert bulk.status_code == 200
    assert_inert(bulk.content.decode(), expect=(ALL,), where="bulk")
    plain = Client()
    plain.force_login(world.clinician)
    redirected = plain.post(reverse("worklists:start", args=[item.public_id]), {"next": JS_URL})
    assert redirected.status_code == 302
    assert not redirected["Location"].lower().startswith("javascript:")


def test_the_audit_export_is_a_csv_download_with_the_text_as_it_was_typed(world: World) -> None:
    client = Client()
    client.force_login(world.team_admin)
    # Open the record first, so the trail holds the clinician's and the admin's views.
    client.get(reverse("rms:patient_detail", args=[world.patient.public_id]))
    response = client.get(reverse("audit:patient_export", args=[world.patient.public_id]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"  # never sniffed as HTML
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) > 1
    cells = [cell for row in rows for cell in row]
    assert all(not cell.startswith(("=", "+", "-", "@")) for cell in cells)  # no formulas


def test_the_document_as_received_is_shown_as_source_never_as_markup(world: World) -> None:
    client = Client()
    client.force_login(world.clinician)
    page = client.get(
        reverse("rms:document_detail", args=[world.patient.public_id, world.document.public_id])
    ).content.decode()
    assert_inert(page, expect=(world.document.content_html,))


def test_a_javascript_link_is_refused_for_a_library_resource(world: World) -> None:
    for url in (JS_URL, " javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<b>"):
        with pytest.raises(ValidationError) as refused:
            library_services.resource_create(
                team=world.team,
                data=library_services.ResourceInput(title="Link", kind=Resource.Kind.LINK, url=url),
                actor=world.clinician,
            )
        assert "url" in refused.value.message_dict


def test_the_letter_shared_with_the_patient_keeps_the_resource_link_in_its_attribute(
    world: World,
) -> None:
    """The information letter is HTML sent to PKB: the link's address stays inside its href
    and every title and description is text."""
    letters = Document.objects.filter(
        patient=world.patient, document_number__startswith=library_services.DOCUMENT_PREFIX
    )
    assert letters.exists()
    for letter in letters:
        parser = _Markup()
        parser.feed(letter.content_html)
        assert not parser.problems, parser.problems
        assert HOSTILE_URL in parser.attribute_values
        assert ALL in "".join(parser.text)


def test_the_care_plan_shared_with_the_patient_is_text(world: World) -> None:
    version = world.care_plan.versions.order_by("number").last()
    assert version is not None
    assert_inert(version.content_html, expect=(SCRIPT, IMG, SVG))


def test_the_consent_documents_shared_with_the_patient_are_text(world: World) -> None:
    consents = Document.objects.filter(patient=world.patient, title__startswith="Consent")
    assert consents.count() == 2
    for document in consents:
        assert_inert(document.content_html, expect=(ALL,))


def test_no_template_expression_is_evaluated(world: World) -> None:
    client = Client()
    client.force_login(world.clinician)
    page = client.get(reverse("rms:patient_detail", args=[world.patient.public_id]))
    assert TEMPLATE in page.content.decode()


def test_another_teams_clinician_sees_none_of_it(world: World, other_team_clinician) -> None:  # type: ignore[no-untyped-def]
    """The pages above are scoped: the hostile record is not even shown elsewhere."""
    client = Client()
    client.force_login(other_team_clinician)
    assert (
        client.get(reverse("rms:patient_detail", args=[world.patient.public_id])).status_code == 404
    )
    assert SCRIPT not in client.get(reverse("worklists:list")).content.decode()
