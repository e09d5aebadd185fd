"""Writes of care plans and consent records.

A care plan is made from a pathway's template and changed only by saving a new version (a
full copy of its sections with the author, time and note); nothing written is edited later.
Each version is rendered to patient-facing HTML (every clinician's word escaped) and recorded
as the same ``rms.Document`` (type CP, one TXA-12 per plan) through
``rms.services.results.document_record``; its ``document_changed`` event lets the PKB bridge
send the new version to an enrolled patient under the team's publication policy (after
commit).

A consent record is append-only too: withdrawing is a new record that names the one it
withdraws. Each record is shared with PKB as a document of its own (type
``settings.PKB_CONSENT_DOCUMENT_TYPE``).

Every service takes the ``actor`` (a clinician or team admin of one of the patient's teams,
checked here as well as in the views), runs in one transaction and raises ``ValidationError``
keyed by field name for wrong input.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from careplans.followup.presenters import step_in_words
from careplans.models import (
    CarePlan,
    CarePlanSection,
    CarePlanTemplate,
    CarePlanVersion,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    FollowUpPlan,
    Resource,
    SectionKind,
)
from rms import permissions, uk_formats
from rms import selectors as rms_selectors
from rms.models import Document, Patient, Team
from rms.services.results import DocumentInput, document_record

HEADING_MAX = 200
BODY_MAX = 20_000
NOTE_MAX = 500
TOPIC_MAX = 300
INFORMATION_MAX = 300
CONSENT_NOTE_MAX = 2000

CARE_PLAN_DOCUMENT_TEMPLATE = "careplans/care_plans/document.html"
CONSENT_DOCUMENT_TEMPLATE = "careplans/care_plans/consent_document.html"


@dataclass(frozen=True)
class SectionText:
    """The new heading and body of the section at ``position`` in a new version."""

    position: int
    heading: str
    body: str


def _author_name(user: User) -> str:
    return user.get_full_name() or user.username


def _clean_note(note: str, limit: int = NOTE_MAX) -> str:
    text = (note or "").strip()
    if len(text) > limit:
        raise ValidationError({"note": f"Keep the note to {limit} characters."})
    return text


# --- filling a template ----------------------------------------------------------------------


def team_contact_text(team: Team | None = None) -> str:
    """How patients reach the team: the team's own telephone number (its settings) where it
    has one, else the site-wide team contact setting."""
    if team is not None and team.contact_phone:
        return f"the team on {team.contact_phone}"
    return str(settings.PKB_TEAM_CONTACT)


def fill_contacts(body: str, *, team: Team) -> str:
    """A "who to contact" body with ``{team_name}`` and ``{team_contact}`` filled in. Plain
    replacement, not ``str.format``: a brace a clinician types stays as it is."""
    return body.replace("{team_name}", team.name).replace("{team_contact}", team_contact_text(team))


# Sections a care plan must keep with words in them: a new version cannot empty them.
REQUIRED_KINDS = frozenset({SectionKind.SCHEDULE, SectionKind.SYMPTOMS, SectionKind.CONTACTS})


def _check_required(kind: str, heading: str, body: str, *, team: Team) -> None:
    """Refuse a version that would empty a required section, or a "who to contact" that no
    longer gives the team's number (when the team's settings have one)."""
    if kind in REQUIRED_KINDS and not body:
        raise ValidationError(
            {
                "body": f'The care plan must keep its "{heading}" section: write what the '
                "patient needs to know here rather than leaving it empty."
            }
        )
    if (
        kind == SectionKind.CONTACTS
        and team.contact_phone
        and not uk_formats.contains_number(body, team.contact_phone)
    ):
        raise ValidationError(
            {
                "body": f'"{heading}" must give the team\'s number, {team.contact_phone} '
                "(from the team's settings), so the patient can reach the team."
            }
        )


def schedule_text(plan: FollowUpPlan | None) -> str:
    """The patient's test schedule in plain words, one line a test (from their follow-up
    plan's own schedule and next due dates), or a sentence saying there is none yet."""
    if plan is None:
        return "Your team will tell you when your tests are due."
    lines: list[str] = []
    due = {test.test_code.casefold(): test.next_due_date for test in plan.tests.all()}
    steps_by_test: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for step in plan.schedule.order_by("test_code", "from_month", "id"):
        key = step.test_code.casefold()
        names.setdefault(key, step.test_name)
        steps_by_test.setdefault(key, []).append(step_in_words(step).lower())
    for key, phrases in steps_by_test.items():
        line = f"{names[key]}: " + "; then ".join(phrases) + "."
        next_due = due.get(key)
        if next_due is not None:
            line += f" Your next test is due around {next_due:%-d %B %Y}."
        lines.append(line)
    return "\n".join(lines) or "Your team will tell you when your tests are due."


def _first_body(kind: str, body: str, *, team: Team, plan: FollowUpPlan | None) -> str:
    if kind == SectionKind.CONTACTS:
        return fill_contacts(body, team=team)
    if kind == SectionKind.SCHEDULE:
        schedule = schedule_text(plan)
        return f"{body.strip()}\n\n{schedule}" if body.strip() else schedule
    return body


def _follow_up_plan(patient: Patient, template: CarePlanTemplate) -> FollowUpPlan | None:
    """The patient's open follow-up plan on the template's pathway, else any open one."""
    open_plans = FollowUpPlan.objects.filter(
        patient=patient,
        status__in=[FollowUpPlan.Status.ACTIVE, FollowUpPlan.Status.PAUSED],
    ).order_by("-started_at", "-id")
    return open_plans.filter(pathway_id=template.pathway_id).first() or open_plans.first()


# --- rendering and sharing -------------------------------------------------------------------


def _render(care_plan: CarePlan, version: CarePlanVersion, sections: list[CarePlanSection]) -> str:
    introduction = care_plan.template.introduction if care_plan.template is not None else ""
    return render_to_string(
        CARE_PLAN_DOCUMENT_TEMPLATE,
        {
            "title": care_plan.title,
            "introduction": introduction,
            "team": care_plan.team.name,
            "sections": sections,
            "version": version.number,
            "author": _author_name(version.author),
            "saved_at": timezone.localtime(version.created_at),
        },
    ).strip()


def _share(
    *,
    patient: Patient,
    number: str,
    document_type: str,
    title: str,
    html: str,
    at: dt.datetime,
    actor: User,
) -> Document:
    document, _ = document_record(
        patient=patient,
        data=DocumentInput(
            document_number=number,
            document_type=document_type,
            title=title,
            authored_at=at,
            content_type=Document.ContentType.HTML,
            content_html=html,
            author=_author_name(actor),
        ),
        actor=actor,
    )
    return document


def _clean_section(heading: str, body: str, position: int) -> tuple[str, str]:
    heading = (heading or "").strip()
    body = (body or "").replace("\r\n", "\n").strip()
    if not heading:
        raise ValidationError({"heading": f"Section {position} needs a heading."})
    if len(heading) > HEADING_MAX:
        raise ValidationError({"heading": f"Keep a heading to {HEADING_MAX} characters."})
    if len(body) > BODY_MAX:
        raise ValidationError({"body": f"Keep a section to {BODY_MAX} characters."})
    return heading, body


def _save_version(
    care_plan: CarePlan,
    sections: Iterable[tuple[int, str, str, str]],
    *,
    actor: User,
    note: str,
) -> CarePlanVersion:
    """Write version n+1 with ``sections`` (position, kind, heading, body), render it and
    record it as the plan's document."""
    latest = care_plan.versions.order_by("-number").first()
    version = CarePlanVersion.objects.create(
        care_plan=care_plan,
        number=(latest.number + 1) if latest is not None else 1,
        author=actor,
        note=note,
        content_html="",
    )
    rows = CarePlanSection.objects.bulk_create(
        CarePlanSection(version=version, position=p, kind=k, heading=h, body=b)
        for p, k, h, b in sections
    )
    version.content_html = _render(care_plan, version, sorted(rows, key=lambda s: s.position))
    version.document = _share(
        patient=care_plan.patient,
        number=care_plan.document_number,
        document_type=Document.DocumentType.CARE_PLAN,
        title=care_plan.title,
        html=version.content_html,
        at=version.created_at,
        actor=actor,
    )
    version.save(update_fields=["content_html", "document"])
    care_plan.save(update_fields=["updated_at"])
    return version


# --- care plans ------------------------------------------------------------------------------


@transaction.atomic
def care_plan_create(
    *, patient: Patient, template: CarePlanTemplate, actor: User, note: str = ""
) -> CarePlan:
    """Make a care plan for ``patient`` from ``template`` (version 1: the template's sections
    with the schedule and the team's contact details filled in) and share it as a document.
    Not idempotent: each call makes a new plan."""
    team = permissions.require_write(user=actor, patient=patient)
    if not template.active:
        raise ValidationError({"template": "This care plan template is no longer offered."})
    text = _clean_note(note)
    follow_up = _follow_up_plan(patient, template)
    care_plan = CarePlan(
        patient=patient,
        team=team,
        template=template,
        follow_up_plan=follow_up,
        title=template.name,
        created_by=actor,
    )
    care_plan.document_number = f"CP-{care_plan.public_id}"
    care_plan.save()
    sections = [
        (
            section.position,
            section.kind,
            section.heading,
            _first_body(section.kind, section.body, team=team, plan=follow_up),
        )
        for section in template.sections.order_by("position")
    ]
    _save_version(care_plan, sections, actor=actor, note=text or "Created from the template.")
    return care_plan


@transaction.atomic
def care_plan_revise(
    *,
    care_plan: CarePlan,
    changes: Iterable[SectionText],
    actor: User,
    note: str = "",
) -> CarePlanVersion:
    """Save a new version of the plan with the given sections changed (the others as they
    were), and share it under the plan's document number. Safe to repeat: when nothing would
    change, the latest version is returned and nothing is written."""
    permissions.require_write(user=actor, patient=care_plan.patient)
    text = _clean_note(note)
    # Serialise saves of one plan: two clinicians saving at once make versions n+1 and n+2.
    CarePlan.objects.select_for_update().filter(pk=care_plan.pk).first()
    latest = care_plan.versions.order_by("-number").first()
    if latest is None:  # a plan is made with its first version
        raise ValidationError({"care_plan": "This care plan has no versions."})
    current = {s.position: s for s in latest.sections.all()}
    wanted: dict[int, tuple[str, str]] = {}
    for change in changes:
        if change.position not in current:
            raise ValidationError({"position": f"The care plan has no section {change.position}."})
        wanted[change.position] = _clean_section(change.heading, change.body, change.position)
    rows = []
    changed = False
    for position, section in sorted(current.items()):
        heading, body = wanted.get(position, (section.heading, section.body))
        if position in wanted and (heading, body) != (section.heading, section.body):
            # Only a section being changed is checked: a plan written before the team had a
            # number (or a rule) is not refused for what this change does not touch.
            _check_required(section.kind, heading, body, team=care_plan.team)
        changed = changed or (heading, body) != (section.heading, section.body)
        rows.append((position, section.kind, heading, body))
    if not changed:
        return latest
    return _save_version(care_plan, rows, actor=actor, note=text)


def care_plan_section_update(
    *, care_plan: CarePlan, position: int, heading: str, body: str, actor: User, note: str = ""
) -> CarePlanVersion:
    """Change one section: a new version (see ``care_plan_revise``). Safe to repeat."""
    return care_plan_revise(
        care_plan=care_plan,
        changes=[SectionText(position=position, heading=heading, body=body)],
        actor=actor,
        note=note,
    )


# --- consent ---------------------------------------------------------------------------------


def _consent_document(record: ConsentRecord, actor: User) -> Document:
    html = render_to_string(
        CONSENT_DOCUMENT_TEMPLATE,
        {
            "record": record,
            "withdraws": record.withdraws,
            "team": record.team.name,
            "recorded_by": _author_name(actor),
            "given_at": timezone.localtime(record.given_at),
        },
    ).strip()
    verb = {
        ConsentStatus.GIVEN: "given",
        ConsentStatus.DECLINED: "declined",
        ConsentStatus.WITHDRAWN: "withdrawn",
    }[ConsentStatus(record.status)]
    return _share(
        patient=record.patient,
        number=f"CONSENT-{record.public_id}",
        document_type=settings.PKB_CONSENT_DOCUMENT_TYPE,
        title=f"Consent {verb}: {record.topic}"[:255],
        html=html,
        at=record.given_at,
        actor=actor,
    )


def _check_given_at(given_at: object, *, born: dt.date) -> dt.datetime:
    if not isinstance(given_at, dt.datetime):
        raise ValidationError({"given_at": "Give the date and time consent was given."})
    if timezone.is_naive(given_at):
        given_at = timezone.make_aware(given_at)
    if given_at > timezone.now() + dt.timedelta(minutes=5):
        raise ValidationError({"given_at": "The time consent was given cannot be in the future."})
    if timezone.localdate(given_at) < born:
        raise ValidationError(
            {"given_at": "The time consent was given is before the patient's date of birth."}
        )
    return given_at


@transaction.atomic
def consent_record(
    *,
    patient: Patient,
    topic: str,
    method: str,
    status: str,
    given_at: dt.datetime,
    actor: User,
    information_given: str = "",
    resource: Resource | None = None,
    note: str = "",
) -> ConsentRecord:
    """Record that the patient gave or declined consent to ``topic``, and share the record
    with PKB as a document. Not idempotent: each call is a new record."""
    team = permissions.require_write(user=actor, patient=patient)
    errors: dict[str, str] = {}
    topic = (topic or "").strip()
    information = (information_given or "").strip()
    if not topic:
        errors["topic"] = "Say what the patient consented to."
    elif len(topic) > TOPIC_MAX:
        errors["topic"] = f"Keep this to {TOPIC_MAX} characters."
    if len(information) > INFORMATION_MAX:
        errors["information_given"] = f"Keep this to {INFORMATION_MAX} characters."
    if method not in ConsentMethod.values:
        errors["method"] = "Choose verbal, written or digital."
    if status not in (ConsentStatus.GIVEN, ConsentStatus.DECLINED):
        errors["status"] = "Choose given or declined (withdraw an earlier record to withdraw)."
    if (
        resource is not None
        and not rms_selectors.team_list(user=actor).filter(pk=resource.team_id).exists()
    ):
        errors["resource"] = "Choose a resource of one of your teams."
    # Every error at once: a wrong date does not wait for the other fields to be put right.
    at: dt.datetime | None = None
    try:
        at = _check_given_at(given_at, born=patient.date_of_birth)
    except ValidationError as exc:
        errors.update({field: messages[0] for field, messages in exc.message_dict.items()})
    if errors or at is None:
        raise ValidationError(errors)
    record = ConsentRecord.objects.create(
        patient=patient,
        team=team,
        topic=topic,
        information_given=information,
        resource=resource,
        method=method,
        status=status,
        given_at=at,
        note=_clean_note(note, CONSENT_NOTE_MAX),
        recorded_by=actor,
    )
    record.document = _consent_document(record, actor)
    record.save(update_fields=["document"])
    return record


@transaction.atomic
def consent_withdraw(
    *,
    consent: ConsentRecord,
    actor: User,
    method: str,
    withdrawn_at: dt.datetime | None = None,
    note: str = "",
) -> ConsentRecord:
    """Record that the patient withdrew consent ``consent`` gave: a new record (the earlier
    one is kept as it was), shared with PKB as a document. Safe to repeat: a record already
    withdrawn returns its withdrawal."""
    permissions.require_write(user=actor, patient=consent.patient)
    ConsentRecord.objects.select_for_update().filter(pk=consent.pk).first()
    existing = ConsentRecord.objects.filter(withdraws=consent).first()
    if existing is not None:
        return existing
    if consent.status != ConsentStatus.GIVEN:
        raise ValidationError({"status": "Only consent that was given can be withdrawn."})
    if method not in ConsentMethod.values:
        raise ValidationError({"method": "Choose verbal, written or digital."})
    at = _check_given_at(withdrawn_at or timezone.now(), born=consent.patient.date_of_birth)
    if at < consent.given_at:
        raise ValidationError({"given_at": "Consent cannot be withdrawn before it was given."})
    record = ConsentRecord.objects.create(
        patient=consent.patient,
        team=permissions.require_write(user=actor, patient=consent.patient),
        topic=consent.topic,
        information_given=consent.information_given,
        resource=consent.resource,
        method=method,
        status=ConsentStatus.WITHDRAWN,
        given_at=at,
        note=_clean_note(note, CONSENT_NOTE_MAX),
        withdraws=consent,
        recorded_by=actor,
    )
    record.document = _consent_document(record, actor)
    record.save(update_fields=["document"])
    return record


def section_texts(items: Iterable[Mapping[str, object]]) -> list[SectionText]:
    """``SectionText``s from dicts with position, heading and body (the API's input)."""
    return [
        SectionText(
            position=int(str(item["position"])),
            heading=str(item.get("heading", "")),
            body=str(item.get("body", "")),
        )
        for item in items
    ]
