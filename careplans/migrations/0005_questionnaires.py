"""Questionnaires, requests and responses (schema), and the seeded instruments and schedules.

The seeded definitions are written out here rather than imported from the app: a migration must
give the same result whenever it runs. A questionnaire that already exists under its code and
version is left alone (an administrator's edits survive); reversing removes nothing.

Answer values: each answer option carries the FHIR ``ordinalValue`` extension (valueDecimal).
For EPIC-26 the ordinal value IS the published 0-100 item score, so a domain score is the mean
of its items' values.
"""

import math
import uuid

import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
LOINC = "http://loinc.org"
RMS_ANSWERS = "https://rms.example.nhs.uk/fhir/CodeSystem/questionnaire-answers"
CANONICAL = "https://rms.example.nhs.uk/fhir/Questionnaire/"


def _option(code, display, value, system=RMS_ANSWERS):
    return {
        "valueCoding": {"system": system, "code": code, "display": display},
        "extension": [{"url": ORDINAL, "valueDecimal": value}],
    }


def _choice(link_id, text, options, required=True):
    return {
        "linkId": link_id,
        "text": text,
        "type": "choice",
        "required": required,
        "answerOption": options,
    }


def _resource(code, version, title, description, items, loinc=None, copyright_text=None):
    resource = {
        "resourceType": "Questionnaire",
        "url": CANONICAL + code,
        "version": version,
        "name": code.replace("-", "_").upper(),
        "title": title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": description,
        "item": items,
    }
    if loinc:
        resource["code"] = [{"system": LOINC, "code": loinc, "display": title}]
    if copyright_text:
        resource["copyright"] = copyright_text
    return resource


# --- PHQ-9 and GAD-7 (Pfizer; free to reproduce, translate and distribute) ------------------
FREQUENCY = [
    ("LA6568-5", "Not at all", 0),
    ("LA6569-3", "Several days", 1),
    ("LA6570-1", "More than half the days", 2),
    ("LA6571-9", "Nearly every day", 3),
]


def _frequency():
    return [_option(code, text, value, LOINC) for code, text, value in FREQUENCY]


PFIZER = (
    "Developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and colleagues, "
    "with an educational grant from Pfizer Inc. No permission is required to reproduce, "
    "translate, display or distribute (www.phqscreeners.com)."
)
PHQ9_ITEMS = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself - or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite - "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
]
PHQ9_DESCRIPTION = (
    "Patient Health Questionnaire (PHQ-9): depression severity over the last 2 weeks. "
    "Total 0-27: 5-9 mild, 10-14 moderate, 15-19 moderately severe, 20-27 severe. Item 9 asks "
    "about thoughts of self-harm: any answer other than 'Not at all' needs the same-day "
    "attention of a clinician. Source and licence: " + PFIZER
)
PHQ9 = {
    "code": "phq-9",
    "version": "1",
    "title": "PHQ-9",
    "description": PHQ9_DESCRIPTION,
    "fhir": _resource(
        "phq-9",
        "1",
        "PHQ-9",
        "Over the last 2 weeks, how often have you been bothered by any of the following problems?",
        [_choice(str(n), text, _frequency()) for n, text in enumerate(PHQ9_ITEMS, start=1)]
        + [
            _choice(
                "10",
                "If you checked off any problems, how difficult have these problems made it "
                "for you to do your work, take care of things at home, or get along with other "
                "people?",
                [
                    _option("not-difficult", "Not difficult at all", 0),
                    _option("somewhat", "Somewhat difficult", 1),
                    _option("very", "Very difficult", 2),
                    _option("extremely", "Extremely difficult", 3),
                ],
                required=False,
            )
        ],
        loinc="44249-1",
        copyright_text=PFIZER,
    ),
    "scoring": {
        "scores": [
            {
                "code": "total",
                "label": "PHQ-9 total",
                "items": [str(n) for n in range(1, 10)],
                "method": "sum",
                "max": 27,
            }
        ],
        "alerts": [
            {
                "score": "total",
                "op": ">=",
                "value": 15,
                "priority": "high",
                "label": "Moderately severe or severe depression",
            },
            {
                "item": "9",
                "op": ">=",
                "value": 1,
                "priority": "urgent",
                "label": "Thoughts of self-harm",
            },
        ],
    },
}

GAD7_ITEMS = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
]
GAD7 = {
    "code": "gad-7",
    "version": "1",
    "title": "GAD-7",
    "description": (
        "Generalised Anxiety Disorder scale (GAD-7): anxiety over the last 2 weeks. Total 0-21: "
        "5-9 mild, 10-14 moderate, 15-21 severe. Source and licence: " + PFIZER
    ),
    "fhir": _resource(
        "gad-7",
        "1",
        "GAD-7",
        "Over the last 2 weeks, how often have you been bothered by the following problems?",
        [_choice(str(n), text, _frequency()) for n, text in enumerate(GAD7_ITEMS, start=1)],
        loinc="69737-5",
        copyright_text=PFIZER,
    ),
    "scoring": {
        "scores": [
            {
                "code": "total",
                "label": "GAD-7 total",
                "items": [str(n) for n in range(1, 8)],
                "method": "sum",
                "max": 21,
            }
        ],
        "alerts": [
            {
                "score": "total",
                "op": ">=",
                "value": 15,
                "priority": "high",
                "label": "Severe anxiety",
            }
        ],
    },
}

# --- EPIC-26 (University of Michigan) ---------------------------------------------------------
# Item wording is paraphrased: the instrument is free for non-commercial use after registration
# with the University of Michigan, and its exact text is not reproduced here.
PROBLEM = [
    ("no-problem", "No problem", 100),
    ("very-small", "Very small problem", 75),
    ("small", "Small problem", 50),
    ("moderate", "Moderate problem", 25),
    ("big", "Big problem", 0),
]


def _scale(rows):
    return [_option(code, text, value) for code, text, value in rows]


EPIC_ITEMS = [
    ("1", "Leaking urine over the last 4 weeks: how often?", [
        ("rarely", "Rarely or never", 100),
        ("weekly", "About once a week", 75),
        ("more-than-weekly", "More than once a week", 50),
        ("daily", "About once a day", 25),
        ("more-than-daily", "More than once a day", 0),
    ]),
    ("2", "Your control of urine over the last 4 weeks", [
        ("total", "Total control", 100),
        ("occasional", "Occasional dribbling", 67),
        ("frequent", "Frequent dribbling", 33),
        ("none", "No control", 0),
    ]),
    ("3", "Pads or adult nappies used each day for leakage over the last 4 weeks", [
        ("none", "None", 100),
        ("one", "1 a day", 67),
        ("two", "2 a day", 33),
        ("three-plus", "3 or more a day", 0),
    ]),
    ("4a", "How much of a problem: dripping or leaking urine", PROBLEM),
    ("4b", "How much of a problem: pain or burning when passing urine", PROBLEM),
    ("4c", "How much of a problem: bleeding when passing urine", PROBLEM),
    ("4d", "How much of a problem: weak stream or not emptying fully", PROBLEM),
    ("4e", "How much of a problem: passing urine often during the day", PROBLEM),
    ("5", "Overall, how much of a problem has passing urine been", PROBLEM),
    ("6a", "How much of a problem: urgency to open your bowels", PROBLEM),
    ("6b", "How much of a problem: opening your bowels more often", PROBLEM),
    ("6c", "How much of a problem: losing control of your stools", PROBLEM),
    ("6d", "How much of a problem: blood in your stools", PROBLEM),
    ("6e", "How much of a problem: pain in the abdomen, pelvis or rectum", PROBLEM),
    ("7", "Overall, how much of a problem have your bowel habits been", PROBLEM),
    ("8a", "Your ability to have an erection", [
        ("very-good", "Very good", 100),
        ("good", "Good", 75),
        ("fair", "Fair", 50),
        ("poor", "Poor", 25),
        ("very-poor", "Very poor or none", 0),
    ]),
    ("8b", "Your ability to reach orgasm", [
        ("very-good", "Very good", 100),
        ("good", "Good", 75),
        ("fair", "Fair", 50),
        ("poor", "Poor", 25),
        ("very-poor", "Very poor or none", 0),
    ]),
    ("9", "How firm your erections usually were", [
        ("intercourse", "Firm enough for intercourse", 100),
        ("foreplay", "Firm enough only for masturbation and foreplay", 67),
        ("not-firm", "Not firm enough for any sexual activity", 33),
        ("none", "None at all", 0),
    ]),
    ("10", "How often you had an erection when you wanted one", [
        ("always", "Whenever I wanted one", 100),
        ("more-than-half", "More than half the time", 75),
        ("half", "About half the time", 50),
        ("less-than-half", "Less than half the time", 25),
        ("never", "Never", 0),
    ]),
    ("11", "Your sexual function overall", [
        ("very-good", "Very good", 100),
        ("good", "Good", 75),
        ("fair", "Fair", 50),
        ("poor", "Poor", 25),
        ("very-poor", "Very poor", 0),
    ]),
    ("12", "Overall, how much of a problem has your sexual function been", PROBLEM),
    ("13a", "How much of a problem: hot flushes", PROBLEM),
    ("13b", "How much of a problem: breast tenderness or enlargement", PROBLEM),
    ("13c", "How much of a problem: feeling depressed", PROBLEM),
    ("13d", "How much of a problem: lack of energy", PROBLEM),
    ("13e", "How much of a problem: change in body weight", PROBLEM),
]  # fmt: skip

EPIC_DOMAINS = [
    ("urinary_incontinence", "Urinary incontinence", ["1", "2", "3", "4a"]),
    ("urinary_irritative", "Urinary irritative/obstructive", ["4b", "4c", "4d", "4e"]),
    ("bowel", "Bowel", ["6a", "6b", "6c", "6d", "6e", "7"]),
    ("sexual", "Sexual", ["8a", "8b", "9", "10", "11", "12"]),
    ("hormonal", "Hormonal", ["13a", "13b", "13c", "13d", "13e"]),
]
EPIC26 = {
    "code": "epic-26",
    "version": "1",
    "title": "EPIC-26",
    "description": (
        "Expanded Prostate Cancer Index Composite, short form (EPIC-26): urinary, bowel, sexual "
        "and hormonal function over the last 4 weeks. Five domain scores from 0 to 100 (higher "
        "is better): each answer is scored 0-100 as the published scoring instructions give, "
        "and a domain score is the mean of its items; it is not computed when more than 20% "
        "of its items are unanswered. The overall urinary question (item 5) is in no domain. "
        "Source and licence: University of Michigan (EPIC development team, "
        "https://medicine.umich.edu/dept/urology/research/epic). Free for non-commercial use "
        "after registration with the University of Michigan; the wording here is a paraphrase "
        "for data entry, and the registered official form must be used with patients."
    ),
    "fhir": _resource(
        "epic-26",
        "1",
        "EPIC-26",
        "Urinary, bowel, sexual and hormonal function over the last 4 weeks (paraphrased).",
        [_choice(link, text, _scale(rows), required=False) for link, text, rows in EPIC_ITEMS],
        copyright_text=(
            "EPIC-26 (c) The University of Michigan. Free for non-commercial use with registration."
        ),
    ),
    "scoring": {
        "scores": [
            {
                "code": code,
                "label": f"EPIC-26 {label}",
                "items": links,
                "method": "mean",
                "min_answered": math.ceil(0.8 * len(links)),
                "max": 100,
            }
            for code, label, links in EPIC_DOMAINS
        ],
        "alerts": [],
    },
}

# --- Holistic needs concerns checklist (our own wording) --------------------------------------
ZERO_TO_TEN = [{"valueInteger": n} for n in range(11)]
HNA_AREAS = [
    ("physical", "Physical concerns (for example pain, tiredness, sleep, eating, breathing)"),
    ("emotional", "Emotional concerns (for example worry, low mood, fear, anger)"),
    ("practical", "Practical concerns (for example money, work, housing, transport, caring)"),
    ("family", "Family and relationship concerns (partner, children, friends)"),
    ("spiritual", "Spiritual or faith concerns, or loss of meaning or purpose"),
]
HNA = {
    "code": "hna-concerns",
    "version": "1",
    "title": "Holistic needs concerns checklist",
    "description": (
        "A holistic needs assessment in the style of a distress thermometer: overall distress "
        "this week from 0 (none) to 10 (extreme), and how much each area of life concerns the "
        "patient, from 0 (not at all) to 10 (very much). The wording is this project's own and "
        "free to use under the project's licence. Distress of 4 or more, or any concern rated "
        "7 or more, asks the team to talk with the patient about a care plan."
    ),
    "fhir": _resource(
        "hna-concerns",
        "1",
        "Holistic needs concerns checklist",
        "Overall distress and concerns by area of life, each from 0 to 10.",
        [
            {
                "linkId": "distress",
                "text": "How much distress have you felt this past week, from 0 (none) to 10 "
                "(extreme)?",
                "type": "choice",
                "required": True,
                "answerOption": ZERO_TO_TEN,
            }
        ]
        + [
            {
                "linkId": code,
                "text": f"{text}: how much do they concern you, from 0 to 10?",
                "type": "choice",
                "required": True,
                "answerOption": ZERO_TO_TEN,
            }
            for code, text in HNA_AREAS
        ]
        + [
            {
                "linkId": "other",
                "text": "Anything else you would like the team to know",
                "type": "text",
                "required": False,
            }
        ],
    ),
    "scoring": {
        "scores": [
            {
                "code": "distress",
                "label": "Distress",
                "items": ["distress"],
                "method": "sum",
                "max": 10,
            },
            {
                "code": "concerns",
                "label": "Concerns (sum of 5 areas)",
                "items": [code for code, _ in HNA_AREAS],
                "method": "sum",
                "max": 50,
            },
        ],
        "alerts": [
            {
                "score": "distress",
                "op": ">=",
                "value": 4,
                "priority": "normal",
                "label": "Distress 4 or more",
            },
            {
                "items": [code for code, _ in HNA_AREAS],
                "op": ">=",
                "value": 7,
                "priority": "high",
                "label": "A concern rated 7 or more",
            },
        ],
    },
}

QUESTIONNAIRES = [PHQ9, GAD7, EPIC26, HNA]

# (pathway code, questionnaire code, from month, every months, until month)
PROSTATE = [
    "prostate-post-prostatectomy",
    "prostate-post-radiotherapy",
    "prostate-active-surveillance",
]
SCHEDULES = [(code, "epic-26", 6, 6, 60) for code in PROSTATE] + [
    (code, "hna-concerns", 0, 12, None) for code in [*PROSTATE, "colorectal-cea"]
]


def seed(apps, schema_editor):
    Questionnaire = apps.get_model("careplans", "Questionnaire")
    Pathway = apps.get_model("careplans", "Pathway")
    PathwayQuestionnaire = apps.get_model("careplans", "PathwayQuestionnaire")
    by_code = {}
    for data in QUESTIONNAIRES:
        existing = Questionnaire.objects.filter(code=data["code"], version=data["version"]).first()
        by_code[data["code"]] = existing or Questionnaire.objects.create(**data)
    for pathway_code, questionnaire_code, from_month, every, until in SCHEDULES:
        pathway = Pathway.objects.filter(code=pathway_code).first()
        if pathway is None:
            continue
        questionnaire = by_code[questionnaire_code]
        if PathwayQuestionnaire.objects.filter(
            pathway=pathway, questionnaire=questionnaire
        ).exists():
            continue
        PathwayQuestionnaire.objects.create(
            pathway=pathway,
            questionnaire=questionnaire,
            from_month=from_month,
            every_months=every,
            until_month=until,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0004_information_packs"),
        ("rms", "0002_inbound_messages"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Questionnaire",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("code", models.SlugField(help_text="Our short name, e.g. phq-9", max_length=60)),
                ("version", models.CharField(default="1", max_length=20)),
                ("title", models.CharField(max_length=200)),
                (
                    "description",
                    models.TextField(help_text="What it measures, its source and its licence"),
                ),
                ("active", models.BooleanField(default=True)),
                ("fhir", models.JSONField(help_text="The FHIR R4 Questionnaire resource (JSON)")),
                (
                    "scoring",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Scores and alert rules (JSON; see careplans.questionnaires.scoring for the format)",
                    ),
                ),
                (
                    "pkb_questionnaire_id",
                    models.CharField(
                        blank=True,
                        help_text="The id of this questionnaire on PKB's side (blank until set)",
                        max_length=120,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["title", "version"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("code", "version"), name="questionnaire_code_version"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="PathwayQuestionnaire",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("from_month", models.PositiveSmallIntegerField(default=0)),
                (
                    "every_months",
                    models.PositiveSmallIntegerField(
                        blank=True,
                        null=True,
                        validators=[django.core.validators.MinValueValidator(1)],
                    ),
                ),
                ("until_month", models.PositiveSmallIntegerField(blank=True, null=True)),
                (
                    "pathway",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="questionnaires",
                        to="careplans.pathway",
                    ),
                ),
                (
                    "questionnaire",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="schedules",
                        to="careplans.questionnaire",
                    ),
                ),
            ],
            options={
                "ordering": ["pathway", "from_month", "id"],
            },
        ),
        migrations.CreateModel(
            name="QuestionnaireRequest",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "channel",
                    models.CharField(
                        choices=[
                            ("pkb", "Patients Know Best"),
                            ("clinician", "Clinician (phone or clinic)"),
                        ],
                        default="pkb",
                        max_length=10,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "Pending"),
                            ("sent", "Sent"),
                            ("failed", "Failed"),
                            ("completed", "Completed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="pending",
                        max_length=10,
                    ),
                ),
                ("requested_at", models.DateTimeField(auto_now_add=True)),
                ("due_date", models.DateField(blank=True, null=True)),
                ("sent_at", models.DateTimeField(blank=True, null=True)),
                ("completed_at", models.DateTimeField(blank=True, null=True)),
                ("external_id", models.CharField(blank=True, help_text="PKB's id", max_length=120)),
                ("last_error", models.TextField(blank=True)),
                ("attempts", models.PositiveIntegerField(default=0)),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="questionnaire_requests",
                        to="rms.patient",
                    ),
                ),
                (
                    "plan",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="questionnaire_requests",
                        to="careplans.followupplan",
                    ),
                ),
                (
                    "questionnaire",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="requests",
                        to="careplans.questionnaire",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        help_text="Blank when the pathway's schedule requested it",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="rms.team"
                    ),
                ),
            ],
            options={
                "ordering": ["-requested_at", "-id"],
            },
        ),
        migrations.CreateModel(
            name="QuestionnaireResponse",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "fhir",
                    models.JSONField(help_text="The FHIR R4 QuestionnaireResponse resource (JSON)"),
                ),
                ("scores", models.JSONField(blank=True, default=dict)),
                ("alerts", models.JSONField(blank=True, default=list)),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("pkb", "Patients Know Best"),
                            ("clinician", "Entered by a clinician"),
                        ],
                        max_length=10,
                    ),
                ),
                ("authored_at", models.DateTimeField()),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                ("external_id", models.CharField(blank=True, help_text="PKB's id", max_length=120)),
                (
                    "entered_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="questionnaire_responses",
                        to="rms.patient",
                    ),
                ),
                (
                    "questionnaire",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="responses",
                        to="careplans.questionnaire",
                    ),
                ),
                (
                    "request",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="responses",
                        to="careplans.questionnairerequest",
                    ),
                ),
                (
                    "team",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rms.team",
                    ),
                ),
            ],
            options={
                "ordering": ["-authored_at", "-id"],
            },
        ),
        migrations.AddConstraint(
            model_name="pathwayquestionnaire",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("until_month__isnull", True),
                    ("until_month__gte", models.F("from_month")),
                    _connector="OR",
                ),
                name="pathway_questionnaire_ends_after_start",
            ),
        ),
        migrations.AddIndex(
            model_name="questionnairerequest",
            index=models.Index(
                condition=models.Q(("channel", "pkb"), ("status", "pending")),
                fields=["requested_at"],
                name="qreq_pending_pkb_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="questionnairerequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("plan__isnull", False)),
                fields=("plan", "questionnaire", "due_date"),
                name="questionnaire_request_once_per_plan_due",
            ),
        ),
        migrations.AddIndex(
            model_name="questionnaireresponse",
            index=models.Index(fields=["patient", "authored_at"], name="qresp_patient_idx"),
        ),
        migrations.AddConstraint(
            model_name="questionnaireresponse",
            constraint=models.UniqueConstraint(
                condition=models.Q(("external_id", ""), _negated=True),
                fields=("external_id",),
                name="questionnaire_response_external_once",
            ),
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
