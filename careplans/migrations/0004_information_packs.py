"""Information packs and milestones."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MILESTONES = [
    ("before_treatment", "Before treatment"),
    ("after_treatment", "After treatment"),
    ("remote_follow_up", "Discharge to remote follow-up"),
]


def _fk(to: str, related_name: str, *, null: bool = False) -> models.ForeignKey:
    return models.ForeignKey(
        blank=null,
        null=null,
        on_delete=django.db.models.deletion.PROTECT,
        related_name=related_name,
        to=to,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0003_care_plans"),
        ("rms", "0003_resource_library"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.CreateModel(
            name="InformationPack",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("name", models.CharField(max_length=200)),
                ("milestone", models.CharField(choices=MILESTONES, max_length=20)),
                (
                    "description",
                    models.TextField(blank=True, help_text="Shown to the patient above the list"),
                ),
                (
                    "active",
                    models.BooleanField(
                        default=True,
                        help_text="Only active packs are shared when a milestone is reached",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("pathway", _fk("careplans.pathway", "packs")),
                (
                    "resources",
                    models.ManyToManyField(blank=True, related_name="packs", to="rms.resource"),
                ),
                ("team", _fk("rms.team", "information_packs")),
            ],
            options={"ordering": ["team", "pathway", "milestone", "name"]},
        ),
        migrations.CreateModel(
            name="MilestoneReached",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("milestone", models.CharField(choices=MILESTONES, max_length=20)),
                (
                    "source",
                    models.CharField(
                        choices=[
                            ("clinician", "Recorded by a clinician"),
                            ("plan_start", "Follow-up plan started"),
                        ],
                        max_length=12,
                    ),
                ),
                ("reached_at", models.DateTimeField(auto_now_add=True)),
                ("pathway", _fk("careplans.pathway", "+")),
                ("patient", _fk("rms.patient", "milestones")),
                ("reached_by", _fk(settings.AUTH_USER_MODEL, "+")),
                ("team", _fk("rms.team", "+")),
            ],
            options={"ordering": ["-reached_at", "-id"]},
        ),
        migrations.CreateModel(
            name="PathwayResource",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "pathway",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="resource_tags",
                        to="careplans.pathway",
                    ),
                ),
                (
                    "resource",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="pathway_tags",
                        to="rms.resource",
                    ),
                ),
            ],
            options={"ordering": ["pathway__name", "id"]},
        ),
        migrations.CreateModel(
            name="ResourceShare",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                (
                    "note",
                    models.TextField(
                        blank=True, help_text="Why nothing, or not everything, was sent"
                    ),
                ),
                ("shared_at", models.DateTimeField(auto_now_add=True)),
                (
                    "document",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rms.document",
                    ),
                ),
                (
                    "included",
                    models.ManyToManyField(blank=True, related_name="+", to="rms.resource"),
                ),
                ("milestone", _fk("careplans.milestonereached", "shares", null=True)),
                ("pack", _fk("careplans.informationpack", "shares", null=True)),
                ("patient", _fk("rms.patient", "resource_shares")),
                ("resource", _fk("rms.resource", "shares", null=True)),
                ("shared_by", _fk(settings.AUTH_USER_MODEL, "+")),
                ("team", _fk("rms.team", "+")),
            ],
            options={"ordering": ["-shared_at", "-id"]},
        ),
        migrations.AddConstraint(
            model_name="informationpack",
            constraint=models.UniqueConstraint(
                fields=("team", "pathway", "milestone", "name"), name="information_pack_name_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="milestonereached",
            constraint=models.UniqueConstraint(
                fields=("patient", "team", "pathway", "milestone"), name="milestone_reached_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="pathwayresource",
            constraint=models.UniqueConstraint(
                fields=("pathway", "resource"), name="pathway_resource_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="resourceshare",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("pack__isnull", False), ("resource__isnull", True)),
                    models.Q(("pack__isnull", True), ("resource__isnull", False)),
                    _connector="OR",
                ),
                name="resource_share_pack_or_resource",
            ),
        ),
        migrations.AddConstraint(
            model_name="resourceshare",
            constraint=models.UniqueConstraint(
                condition=models.Q(("pack__isnull", False)),
                fields=("patient", "pack"),
                name="resource_share_pack_once",
            ),
        ),
    ]
