"""Care plan templates and documents, consent records; a care plan template for each of the
four seeded pathways (plain-English text for patients)."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

SECTION_KINDS = [
    ("schedule", "Your follow-up schedule"),
    ("symptoms", "Symptoms to report"),
    ("contacts", "Who to contact"),
    ("free", "Free section"),
]

CONTACTS = (
    "Your main contact is your clinical nurse specialist (CNS) in the {team_name}. "
    "Contact {team_contact}.\n\n"
    "Call your GP or NHS 111 out of hours. If you are very unwell, call 999 or go to your "
    "nearest emergency department (A&E), and tell them you have had treatment for cancer."
)

PROSTATE_SYMPTOMS = (
    "Contact your clinical nurse specialist if you notice any of these:\n"
    "- new pain in your bones (for example your back, hips or ribs) that does not go away\n"
    "- problems passing urine, such as a weak flow, needing to go more often, or leaking "
    "that is getting worse\n"
    "- blood in your urine or in your poo\n"
    "- losing weight without trying, or feeling very tired for no reason\n"
    "- swelling in your legs\n\n"
    "Get urgent help (call 999 or go to A&E) if you have weakness or numbness in your legs, "
    "or problems controlling your bladder or bowels together with back pain."
)

COLORECTAL_SYMPTOMS = (
    "Contact your clinical nurse specialist if you notice any of these:\n"
    "- blood in your poo, or bleeding from your bottom\n"
    "- a change in your bowel habit that lasts more than 3 weeks\n"
    "- pain or a lump in your tummy (abdomen)\n"
    "- losing weight without trying, or losing your appetite\n"
    "- feeling very tired or breathless for no reason\n"
    "- yellow skin or eyes, or a cough that does not go away\n\n"
    "Get urgent help (call 999 or go to A&E) if you cannot pass poo or wind and are being sick."
)

LIVING_WELL = (
    "Keeping active, eating a balanced diet, drinking less alcohol and not smoking can help "
    "your recovery and your general health. Ask your team about local support groups and "
    "exercise programmes."
)

TEMPLATES = [
    {
        "pathway": "prostate-post-prostatectomy",
        "name": "Care plan after prostate surgery",
        "introduction": (
            "This plan explains how we will keep an eye on your health after your prostate "
            "operation, without routine clinic visits. We check your PSA blood test and "
            "contact you if anything needs attention."
        ),
        "sections": [
            ("schedule", "Your follow-up schedule",
             "You will have regular PSA blood tests, usually at your GP surgery. After surgery "
             "your PSA should be very low. We look at every result."),
            ("symptoms", "Symptoms to report", PROSTATE_SYMPTOMS),
            ("free", "After your operation",
             "Leaking urine and problems with erections are common after surgery and often "
             "improve over months. Pelvic floor exercises help. Tell us if they are not "
             "getting better; there is treatment and support."),
            ("contacts", "Who to contact", CONTACTS),
            ("free", "Looking after yourself", LIVING_WELL),
        ],
    },
    {
        "pathway": "prostate-post-radiotherapy",
        "name": "Care plan after prostate radiotherapy",
        "introduction": (
            "This plan explains how we will keep an eye on your health after radiotherapy to "
            "your prostate, without routine clinic visits. We check your PSA blood test and "
            "contact you if anything needs attention."
        ),
        "sections": [
            ("schedule", "Your follow-up schedule",
             "You will have regular PSA blood tests, usually at your GP surgery. After "
             "radiotherapy your PSA falls slowly over months or years. We look at every result."),
            ("symptoms", "Symptoms to report", PROSTATE_SYMPTOMS),
            ("free", "Side effects of radiotherapy",
             "Some bladder and bowel side effects can start months or years after treatment, "
             "such as needing to pass urine urgently, or loose or bloody poo. Tell us about "
             "them: they can be treated. If you have hormone therapy, tell us about hot "
             "flushes, tiredness or low mood."),
            ("contacts", "Who to contact", CONTACTS),
            ("free", "Looking after yourself", LIVING_WELL),
        ],
    },
    {
        "pathway": "prostate-active-surveillance",
        "name": "Care plan for active surveillance of prostate cancer",
        "introduction": (
            "Active surveillance means we monitor your prostate cancer closely instead of "
            "treating it straight away. This plan explains the tests you will have and when "
            "to contact us."
        ),
        "sections": [
            ("schedule", "Your follow-up schedule",
             "You will have regular PSA blood tests. You may also have an MRI scan or a "
             "biopsy from time to time; we will write to you about these."),
            ("symptoms", "Symptoms to report", PROSTATE_SYMPTOMS),
            ("free", "Changing your mind",
             "You can ask to talk about treatment at any time. Tell us if you are worried "
             "about being on active surveillance."),
            ("contacts", "Who to contact", CONTACTS),
            ("free", "Looking after yourself", LIVING_WELL),
        ],
    },
    {
        "pathway": "colorectal-cea",
        "name": "Care plan after bowel cancer treatment",
        "introduction": (
            "This plan explains how we will keep an eye on your health after treatment for "
            "bowel cancer, without routine clinic visits. We check your CEA blood test and "
            "your scans, and contact you if anything needs attention."
        ),
        "sections": [
            ("schedule", "Your follow-up schedule",
             "You will have regular CEA blood tests and CT scans, and a colonoscopy (a camera "
             "test of your bowel) at times we will write to you about."),
            ("symptoms", "Symptoms to report", COLORECTAL_SYMPTOMS),
            ("free", "If you have a stoma",
             "Contact your stoma nurse about problems with your stoma or its skin, or if your "
             "stoma stops working."),
            ("contacts", "Who to contact", CONTACTS),
            ("free", "Looking after yourself", LIVING_WELL),
        ],
    },
]


def seed(apps, schema_editor):
    """One template for each seeded pathway; leaves existing templates as they are (safe to
    run again, as the browser tests do)."""
    Pathway = apps.get_model("careplans", "Pathway")
    CarePlanTemplate = apps.get_model("careplans", "CarePlanTemplate")
    CarePlanTemplateSection = apps.get_model("careplans", "CarePlanTemplateSection")
    for data in TEMPLATES:
        pathway = Pathway.objects.filter(code=data["pathway"]).first()
        if pathway is None or CarePlanTemplate.objects.filter(pathway=pathway).exists():
            continue
        template = CarePlanTemplate.objects.create(
            pathway=pathway, name=data["name"], introduction=data["introduction"]
        )
        for position, (kind, heading, body) in enumerate(data["sections"], start=1):
            CarePlanTemplateSection.objects.create(
                template=template, position=position, kind=kind, heading=heading, body=body
            )


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0002_seed_pathways"),
        ("rms", "0002_inbound_messages"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CarePlanTemplate",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=200)),
                ("introduction", models.TextField(blank=True, help_text="Opening words shown to the patient above the sections.")),
                ("active", models.BooleanField(default=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("pathway", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="care_plan_templates", to="careplans.pathway")),
            ],
            options={
                "ordering": ["pathway__name", "name"],
                "constraints": [models.UniqueConstraint(fields=("pathway", "name"), name="care_plan_template_name_once")],
            },
        ),
        migrations.CreateModel(
            name="CarePlanTemplateSection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.PositiveSmallIntegerField()),
                ("kind", models.CharField(choices=SECTION_KINDS, default="free", max_length=10)),
                ("heading", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True)),
                ("template", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="sections", to="careplans.careplantemplate")),
            ],
            options={
                "ordering": ["template", "position"],
                "constraints": [models.UniqueConstraint(fields=("template", "position"), name="care_plan_template_section_position_once")],
            },
        ),
        migrations.CreateModel(
            name="CarePlan",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("title", models.CharField(max_length=200)),
                ("document_number", models.CharField(max_length=80, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("created_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("follow_up_plan", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="careplans.followupplan")),
                ("patient", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="care_plans", to="rms.patient")),
                ("team", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="rms.team")),
                ("template", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="careplans.careplantemplate")),
            ],
            options={"ordering": ["-created_at", "-id"]},
        ),
        migrations.CreateModel(
            name="CarePlanVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("note", models.CharField(blank=True, max_length=500)),
                ("content_html", models.TextField()),
                ("author", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("care_plan", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="versions", to="careplans.careplan")),
                ("document", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="rms.document")),
            ],
            options={
                "ordering": ["care_plan", "number"],
                "constraints": [models.UniqueConstraint(fields=("care_plan", "number"), name="care_plan_version_once")],
            },
        ),
        migrations.CreateModel(
            name="CarePlanSection",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("position", models.PositiveSmallIntegerField()),
                ("kind", models.CharField(choices=SECTION_KINDS, default="free", max_length=10)),
                ("heading", models.CharField(max_length=200)),
                ("body", models.TextField(blank=True)),
                ("version", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="sections", to="careplans.careplanversion")),
            ],
            options={
                "ordering": ["version", "position"],
                "constraints": [models.UniqueConstraint(fields=("version", "position"), name="care_plan_section_position_once")],
            },
        ),
        migrations.CreateModel(
            name="ConsentRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("topic", models.CharField(help_text="What was consented to.", max_length=300)),
                ("information_given", models.CharField(blank=True, help_text="The version of the information given, e.g. a leaflet and its version.", max_length=300)),
                ("method", models.CharField(choices=[("verbal", "Verbal"), ("written", "Written"), ("digital", "Digital")], max_length=10)),
                ("status", models.CharField(choices=[("given", "Given"), ("declined", "Declined"), ("withdrawn", "Withdrawn")], max_length=10)),
                ("given_at", models.DateTimeField(help_text="When the patient gave, declined or withdrew it.")),
                ("note", models.TextField(blank=True)),
                ("recorded_at", models.DateTimeField(auto_now_add=True)),
                ("document", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="rms.document")),
                ("patient", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="consent_records", to="rms.patient")),
                ("recorded_by", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL)),
                ("resource", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+", to="rms.resource")),
                ("team", models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="rms.team")),
                ("withdraws", models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="withdrawal", to="careplans.consentrecord")),
            ],
            options={
                "ordering": ["-given_at", "-id"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("status", "withdrawn"), ("withdraws__isnull", False))
                        | models.Q(models.Q(("status", "withdrawn"), _negated=True), ("withdraws__isnull", True)),
                        name="consent_withdrawal_names_what_it_withdraws",
                    )
                ],
            },
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
