"""``manage.py demo_care``: the resource library, care plans, consent and questionnaires of the
demo (``make demo``).

Run after ``load_demo`` and ``demo_plans``. For the demo teams it fills the resource library
(approved, due for review, draft and retired resources, tagged with pathways, and an
information pack for each milestone of the post-prostatectomy pathway); for the first three
URO patients on that pathway it makes care plans from the pathway's template (one revised
once), records consent (one withdrawn), enters EPIC-26 and holistic needs answers taken by
phone over the last year, each patient their own (one PHQ-9 over its threshold, so its alert is
on the worklist), and
records the first patient's discharge to remote follow-up so its information pack is shared.

Every write goes through the services, as a clinician or team admin of the demo would make it.
Dates are fixed relative to today and every choice is fixed, so the demo is the same each time.
Idempotent: what exists already is left as it is. Refuses to run in production.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from careplans.care_plans import services as care_plan_services
from careplans.library import services as library_services
from careplans.models import (
    CarePlan,
    CarePlanTemplate,
    ConsentMethod,
    ConsentRecord,
    ConsentStatus,
    FollowUpPlan,
    InformationPack,
    Milestone,
    Pathway,
    Questionnaire,
    QuestionnaireResponse,
    Resource,
    SectionKind,
)
from careplans.questionnaires import services as questionnaire_services
from rms import selectors
from rms.models import Membership, NhsNumberStatus, Patient, Role, Team

RP = "prostate-post-prostatectomy"
RT = "prostate-post-radiotherapy"
AS = "prostate-active-surveillance"
CRC = "colorectal-cea"

URO_CLINICIAN = "cns.uro"
URO_ADMIN = "onc.uro"
CRC_CLINICIAN = "cns.crc"


@dataclass(frozen=True)
class ResourceSpec:
    title: str
    kind: str
    url: str
    description: str
    pathways: tuple[str, ...]
    # Days from today to the review date; None leaves the resource a draft.
    review_in_days: int | None
    retired: bool = False


URO_RESOURCES = (
    ResourceSpec(
        "Prostate cancer: an overview from the NHS",
        Resource.Kind.LINK,
        "https://www.nhs.uk/conditions/prostate-cancer/",
        "What prostate cancer is, how it is found and treated, and where to get support.",
        (RP, RT, AS),
        300,
    ),
    ResourceSpec(
        "The PSA blood test explained",
        Resource.Kind.LINK,
        "https://www.nhs.uk/tests-and-treatments/psa-test/",
        "What your PSA result means and why we check it regularly after treatment.",
        (RP, RT, AS),
        # Within the review reminder window: the team admin sees "due for review".
        20,
    ),
    ResourceSpec(
        "Urinary problems after prostate cancer treatment",
        Resource.Kind.LINK,
        "https://prostatecanceruk.org/prostate-information/living-with-prostate-cancer/urinary-problems",
        "Prostate Cancer UK on leaking urine after surgery or radiotherapy and what helps.",
        (RP, RT),
        120,
    ),
    ResourceSpec(
        "Pelvic floor muscle exercises for men",
        Resource.Kind.LINK,
        "https://prostatecanceruk.org/prostate-information/living-with-prostate-cancer/pelvic-floor-muscle-exercises",
        "How to find and strengthen your pelvic floor muscles, before and after surgery.",
        (RP,),
        210,
    ),
    ResourceSpec(
        "Men talk about life after prostate cancer",
        Resource.Kind.VIDEO,
        "https://healthtalk.org/prostate-cancer/overview",
        "Short films of men describing treatment, recovery and living with side effects.",
        (RP, RT, AS),
        None,
    ),
    ResourceSpec(
        "Prostate cancer treatment choices (previous edition)",
        Resource.Kind.LINK,
        "https://www.nhs.uk/conditions/prostate-cancer/treatment/",
        "Replaced by the NHS overview.",
        (RP, RT),
        90,
        retired=True,
    ),
)

CRC_RESOURCES = (
    ResourceSpec(
        "Bowel cancer: an overview from the NHS",
        Resource.Kind.LINK,
        "https://www.nhs.uk/conditions/bowel-cancer/",
        "What bowel cancer is, how it is treated and what happens afterwards.",
        (CRC,),
        330,
    ),
    ResourceSpec(
        "About bowel cancer, from Bowel Cancer UK",
        Resource.Kind.LINK,
        "https://www.bowelcanceruk.org.uk/about-bowel-cancer/",
        "Bowel Cancer UK on treatment, recovery and support after bowel cancer.",
        (CRC,),
        240,
    ),
    ResourceSpec(
        "People talk about life after bowel cancer",
        Resource.Kind.VIDEO,
        "https://healthtalk.org/bowel-cancer/overview",
        "Short films of people describing treatment, recovery and follow-up.",
        (CRC,),
        None,
    ),
)

# One pack a milestone of the post-prostatectomy pathway: (milestone, name, introduction,
# titles of its resources).
URO_PACKS = (
    (
        Milestone.BEFORE_TREATMENT,
        "Before your prostate surgery",
        "Some reading to help you prepare for your operation.",
        ("Prostate cancer: an overview from the NHS", "Pelvic floor muscle exercises for men"),
    ),
    (
        Milestone.AFTER_TREATMENT,
        "After your prostate surgery",
        "What to expect in the weeks after your operation, and what helps.",
        (
            "Urinary problems after prostate cancer treatment",
            "Pelvic floor muscle exercises for men",
            "Men talk about life after prostate cancer",
        ),
    ),
    (
        Milestone.REMOTE_FOLLOW_UP,
        "Your follow-up by PSA monitoring",
        "You will now be followed up with regular PSA blood tests instead of routine clinic "
        "appointments. Your care team checks every result and contacts you if anything needs "
        "attention.",
        (
            "The PSA blood test explained",
            "Urinary problems after prostate cancer treatment",
        ),
    ),
)

REMOTE_FOLLOW_UP_TOPIC = "Remote follow-up by PSA monitoring instead of routine clinic appointments"
PKB_TOPIC = "Sharing my hospital record and care plan with Patients Know Best (PKB)"
CARE_PLAN_NOTE = "Added advice on pelvic floor exercises, agreed with the patient by phone."
CARE_PLAN_ADDITION = (
    "Keep doing your pelvic floor exercises three times a day. Tell us if leaking gets worse "
    "rather than better."
)

# EPIC-26 answers (option codes) at three stages of recovery after surgery: continence and
# erections improve over the year, bowel and hormonal function stay good.
EPIC_STAGES: dict[str, tuple[str, str, str]] = {
    "1": ("daily", "more-than-weekly", "weekly"),
    "2": ("frequent", "occasional", "occasional"),
    "3": ("one", "one", "none"),
    "4a": ("moderate", "small", "very-small"),
    "4b": ("no-problem", "no-problem", "no-problem"),
    "4c": ("no-problem", "no-problem", "no-problem"),
    "4d": ("small", "very-small", "no-problem"),
    "4e": ("small", "small", "very-small"),
    "5": ("moderate", "small", "very-small"),
    "6a": ("very-small", "no-problem", "no-problem"),
    "6b": ("no-problem", "no-problem", "no-problem"),
    "6c": ("no-problem", "no-problem", "no-problem"),
    "6d": ("no-problem", "no-problem", "no-problem"),
    "6e": ("no-problem", "no-problem", "no-problem"),
    "7": ("very-small", "no-problem", "no-problem"),
    "8a": ("very-poor", "poor", "fair"),
    "8b": ("poor", "fair", "fair"),
    "9": ("none", "not-firm", "foreplay"),
    "10": ("never", "less-than-half", "half"),
    "11": ("very-poor", "poor", "fair"),
    "12": ("big", "moderate", "small"),
    "13a": ("no-problem", "no-problem", "no-problem"),
    "13b": ("no-problem", "no-problem", "no-problem"),
    "13c": ("very-small", "no-problem", "no-problem"),
    "13d": ("small", "very-small", "very-small"),
    "13e": ("no-problem", "no-problem", "no-problem"),
}
# Days ago each EPIC-26 was taken, and the recovery stage each patient had reached by then
# (the second patient recovers more slowly, the third was further on).
EPIC_DAYS_AGO = (330, 150, 12)
EPIC_PATIENT_STAGES = ((0, 1, 2), (0, 0, 1), (1, 2, 2))
# Holistic needs (distress, physical, emotional, practical, family, spiritual): a year ago and
# recently, all below the checklist's alert levels.
HNA_DAYS_AGO = (330, 12)
HNA_ANSWERS = (
    ((3, 4, 3, 2, 1, 0), (2, 2, 2, 1, 1, 0)),
    ((3, 3, 3, 1, 2, 0), (3, 3, 3, 2, 2, 1)),
    ((2, 2, 1, 1, 0, 0), (1, 1, 1, 0, 0, 0)),
)
HNA_AREAS = ("distress", "physical", "emotional", "practical", "family", "spiritual")
# Each patient's own EPIC-26 answers beside their stage of recovery: the first has no other
# trouble; the second, after radiotherapy to the prostate bed as well, has some bowel
# urgency and bleeding; the third, on hormone therapy for a while, has hot flushes and low
# energy. So no two patients' domain scores are the same series.
EPIC_PATIENT_ANSWERS: tuple[dict[str, str], ...] = (
    {},
    {"6a": "small", "6b": "very-small", "6d": "small", "7": "small"},
    {"13a": "small", "13c": "moderate", "13d": "small", "13e": "very-small"},
)
# PHQ-9 by phone, each patient's own series (item scores 1 to 9, days ago). The second patient
# scores 15 a week ago, moderately severe (no thoughts of self-harm), which raises a
# high-priority alert on the worklist; every other total is under the alert level of 15.
PHQ9_PATIENT_SERIES: tuple[tuple[tuple[int, tuple[int, ...]], ...], ...] = (
    (
        (330, (1, 1, 1, 1, 0, 1, 0, 0, 0)),
        (150, (1, 0, 1, 1, 0, 0, 0, 0, 0)),
        (12, (0, 0, 1, 0, 0, 0, 0, 0, 0)),
    ),
    (
        (330, (1, 1, 1, 1, 1, 0, 1, 0, 0)),
        (150, (1, 1, 2, 1, 1, 1, 1, 0, 0)),
        (6, (2, 2, 2, 2, 2, 2, 2, 1, 0)),
    ),
    (
        (330, (2, 1, 1, 1, 1, 1, 1, 0, 0)),
        (150, (1, 1, 1, 1, 0, 1, 0, 0, 0)),
        (12, (1, 0, 1, 0, 0, 0, 0, 0, 0)),
    ),
)
PHQ9_CODES = ("LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9")  # 0 to 3
PHQ9_DIFFICULTY = ("not-difficult", "somewhat", "very", "extremely")


def phq9_answers(items: tuple[int, ...]) -> dict[str, str]:
    """PHQ-9 answers (LOINC answer codes) for the nine item scores; item 10, how difficult the
    problems made life, follows the total."""
    total = sum(items)
    difficulty = PHQ9_DIFFICULTY[0 if total < 5 else 1 if total < 10 else 2 if total < 20 else 3]
    answers = {str(n): PHQ9_CODES[score] for n, score in enumerate(items, start=1)}
    answers["10"] = difficulty
    return answers


def _at(day: dt.date, hour: int = 10, minute: int = 30) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def _user(username: str) -> User:
    user = User.objects.filter(username=username).first()
    if user is None:
        raise CommandError("No demo data: run `manage.py load_demo` first.")
    return user


class Command(BaseCommand):
    help = "Fill the demo's resource library, care plans, consent and questionnaire answers."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("The demo care data are not made with DJANGO_ENV=production.")
        self.today = timezone.localdate()
        clinician = _user(URO_CLINICIAN)
        admin = _user(URO_ADMIN)
        uro = selectors.team_list(user=clinician).filter(code="URO").first()
        if uro is None:
            raise CommandError("No demo data: run `manage.py load_demo` first.")
        with transaction.atomic():
            self._pkb_questionnaire_ids()
            resources = self._library(uro, URO_RESOURCES, writer=clinician, approver=admin)
            self._packs(uro, resources)
            crc_clinician = User.objects.filter(username=CRC_CLINICIAN).first()
            crc = (
                selectors.team_list(user=crc_clinician).filter(code="CRC").first()
                if crc_clinician
                else None
            )
            if crc is not None and crc_clinician is not None:
                self._library(
                    crc, CRC_RESOURCES, writer=crc_clinician, approver=self._team_admin(crc)
                )
            reminders = library_services.review_reminders_raise(today=self.today)
            patients = self._patients(clinician)
            for index, patient in enumerate(patients):
                self._care_plan(patient, clinician, revise=index == 0)
                self._consent(patient, clinician, resources, withdraw=index == 2)
                self._epic(patient, clinician, EPIC_PATIENT_STAGES[index], index)
                self._hna(patient, clinician, HNA_ANSWERS[index])
                self._phq9(patient, clinician, PHQ9_PATIENT_SERIES[index])
            if patients:
                library_services.milestone_reach(
                    patient=patients[0],
                    pathway=Pathway.objects.get(code=RP),
                    milestone=Milestone.REMOTE_FOLLOW_UP,
                    actor=clinician,
                    team=uro,
                )
        self.stdout.write(
            f"Demo care data: {Resource.objects.count()} library resources, "
            f"{len(patients)} patients with care plans, consent and questionnaires; "
            f"{reminders} review reminders raised."
        )

    # --- questionnaires on PKB's side ---------------------------------------------------------

    def _pkb_questionnaire_ids(self) -> None:
        """Give each questionnaire without one a PKB id (``demo-<code>``), as a Trust's
        administrator would once PKB has the questionnaire: the demo's sandbox accepts any id,
        so sending a questionnaire through PKB works in the demo. Idempotent."""
        for questionnaire in Questionnaire.objects.filter(active=True, pkb_questionnaire_id=""):
            questionnaire_services.questionnaire_save(
                code=questionnaire.code,
                version=questionnaire.version,
                title=questionnaire.title,
                description=questionnaire.description,
                fhir=questionnaire.fhir,
                scoring=questionnaire.scoring,
                active=questionnaire.active,
                pkb_questionnaire_id=f"demo-{questionnaire.code}",
            )

    # --- the resource library ----------------------------------------------------------------

    def _team_admin(self, team: Team) -> User | None:
        membership = (
            Membership.objects.filter(team=team, role=Role.TEAM_ADMIN)
            .select_related("user")
            .order_by("user__username")
            .first()
        )
        return membership.user if membership else None

    def _library(
        self,
        team: Team,
        specs: tuple[ResourceSpec, ...],
        *,
        writer: User,
        approver: User | None,
    ) -> dict[str, Resource]:
        """The team's demo resources by title, made and approved the first time only (an
        approval a team admin later changes is theirs to keep)."""
        existing = {r.title: r for r in Resource.objects.filter(team=team)}
        made: dict[str, Resource] = {}
        pathways = {p.code: p for p in Pathway.objects.all()}
        for spec in specs:
            resource = existing.get(spec.title)
            if resource is None:
                resource = library_services.resource_create(
                    team=team,
                    data=library_services.ResourceInput(
                        title=spec.title,
                        kind=spec.kind,
                        url=spec.url,
                        description=spec.description,
                    ),
                    actor=writer,
                )
                if spec.review_in_days is not None and approver is not None:
                    resource = library_services.resource_approve(
                        resource=resource,
                        review_date=self.today + dt.timedelta(days=spec.review_in_days),
                        actor=approver,
                    )
                    if spec.retired:
                        resource = library_services.resource_retire(
                            resource=resource, actor=approver
                        )
                library_services.resource_tags_set(
                    resource=resource,
                    pathways=[pathways[code] for code in spec.pathways if code in pathways],
                    actor=writer,
                )
            made[spec.title] = resource
        return made

    def _packs(self, team: Team, resources: dict[str, Resource]) -> None:
        # Packs are set up by administrators in Django admin (no service writes them).
        pathway = Pathway.objects.get(code=RP)
        for milestone, name, description, titles in URO_PACKS:
            pack, created = InformationPack.objects.get_or_create(
                team=team,
                pathway=pathway,
                milestone=milestone,
                name=name,
                defaults={"description": description},
            )
            if created:
                pack.resources.set([resources[title] for title in titles])

    # --- patients ----------------------------------------------------------------------------

    def _patients(self, clinician: User) -> list[Patient]:
        """The first three URO patients (by name) on the post-prostatectomy pathway with a
        verified NHS number: the patients the demo also shares with PKB first."""
        on_pathway = FollowUpPlan.objects.filter(
            pathway__code=RP, status=FollowUpPlan.Status.ACTIVE
        ).values("patient_id")
        return list(
            selectors.patient_list(user=clinician, team_code="URO").filter(
                pk__in=on_pathway, nhs_number_status=NhsNumberStatus.VERIFIED
            )[:3]
        )

    def _care_plan(self, patient: Patient, clinician: User, *, revise: bool) -> None:
        template = (
            CarePlanTemplate.objects.filter(pathway__code=RP, active=True).order_by("id").first()
        )
        if template is None:
            return
        care_plan = CarePlan.objects.filter(patient=patient, template=template).first()
        if care_plan is None:
            care_plan = care_plan_services.care_plan_create(
                patient=patient, template=template, actor=clinician
            )
        if not revise or care_plan.versions.count() > 1:
            return
        first = care_plan.versions.get(number=1)
        symptoms = first.sections.filter(kind=SectionKind.SYMPTOMS).first() or (
            first.sections.order_by("position").last()
        )
        if symptoms is None:
            return
        care_plan_services.care_plan_section_update(
            care_plan=care_plan,
            position=symptoms.position,
            heading=symptoms.heading,
            body=f"{symptoms.body.rstrip()}\n\n{CARE_PLAN_ADDITION}",
            actor=clinician,
            note=CARE_PLAN_NOTE,
        )

    def _consent(
        self,
        patient: Patient,
        clinician: User,
        resources: dict[str, Resource],
        *,
        withdraw: bool,
    ) -> None:
        given_on = self.today - dt.timedelta(days=340)
        records = (
            (
                REMOTE_FOLLOW_UP_TOPIC,
                ConsentMethod.VERBAL,
                "The PSA blood test explained (NHS web page)",
                resources.get("The PSA blood test explained"),
            ),
            (PKB_TOPIC, ConsentMethod.WRITTEN, "PKB patient information leaflet, 2024", None),
        )
        for topic, method, information, resource in records:
            record = ConsentRecord.objects.filter(
                patient=patient, topic=topic, status=ConsentStatus.GIVEN
            ).first()
            if record is None:
                record = care_plan_services.consent_record(
                    patient=patient,
                    topic=topic,
                    method=method,
                    status=ConsentStatus.GIVEN,
                    given_at=_at(given_on),
                    actor=clinician,
                    information_given=information,
                    resource=resource,
                )
            if withdraw and topic == PKB_TOPIC:
                # Safe to repeat: a withdrawn record returns its withdrawal.
                care_plan_services.consent_withdraw(
                    consent=record,
                    actor=clinician,
                    method=ConsentMethod.VERBAL,
                    withdrawn_at=_at(self.today - dt.timedelta(days=40), 14, 15),
                    note="Prefers letters by post; does not use the internet.",
                )

    # --- questionnaires by phone ---------------------------------------------------------------

    def _answer(
        self,
        patient: Patient,
        clinician: User,
        code: str,
        answers: dict[str, str],
        days_ago: int,
    ) -> None:
        questionnaire = (
            Questionnaire.objects.filter(code=code, active=True).order_by("-created_at").first()
        )
        if questionnaire is None:
            return
        authored = _at(self.today - dt.timedelta(days=days_ago))
        if QuestionnaireResponse.objects.filter(
            patient=patient, questionnaire=questionnaire, authored_at=authored
        ).exists():
            return
        questionnaire_services.record_response(
            patient=patient,
            questionnaire=questionnaire,
            response_json=questionnaire_services.response_json_from_answers(
                questionnaire=questionnaire, answers=answers, authored=authored
            ),
            source=QuestionnaireResponse.Source.CLINICIAN,
            actor=clinician,
        )

    def _epic(self, patient: Patient, clinician: User, stages: tuple[int, ...], index: int) -> None:
        for days_ago, stage in zip(EPIC_DAYS_AGO, stages, strict=True):
            answers = {link: codes[stage] for link, codes in EPIC_STAGES.items()}
            answers.update(EPIC_PATIENT_ANSWERS[index])
            self._answer(patient, clinician, "epic-26", answers, days_ago)

    def _hna(self, patient: Patient, clinician: User, rounds: tuple[tuple[int, ...], ...]) -> None:
        for days_ago, values in zip(HNA_DAYS_AGO, rounds, strict=True):
            answers = {area: str(value) for area, value in zip(HNA_AREAS, values, strict=True)}
            self._answer(patient, clinician, "hna-concerns", answers, days_ago)

    def _phq9(
        self,
        patient: Patient,
        clinician: User,
        series: tuple[tuple[int, tuple[int, ...]], ...],
    ) -> None:
        for days_ago, items in series:
            self._answer(patient, clinician, "phq-9", phq9_answers(items), days_ago)
