"""The resource library's ``Resource`` becomes ``careplans.Resource``, keeping its table.

State only: the model is created here with ``db_table = "rms_resource"`` (the table, its rows,
constraints and indexes stay as they are), the foreign keys and many-to-many fields of the
library and of consent point at it, and ``rms`` then forgets the model
(``rms.0016_resource_move_to_careplans``, which runs after this one: ``run_before``, so the
core's migrations name no app above it). No SQL runs except the content type's new app label,
so that the model's permissions and its audit log stay attached to it.
"""

import uuid
from collections.abc import Callable
from typing import Any

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps


def _relabel(apps: StateApps, old: str, new: str) -> None:
    """The model's content type row (if there is one: a new database has none until after
    its migrations) takes the new app label, keeping its id, so the permissions and the audit
    log entries that point at it follow the model. Should a row with the new label exist
    already, it is the one in use and nothing is moved."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if content_type.objects.filter(app_label=new, model="resource").exists():
        return
    content_type.objects.filter(app_label=old, model="resource").update(app_label=new)
    # Cached content types of this process would still name the old label.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


def content_type_to_careplans(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _relabel(apps, "rms", "careplans")


def content_type_to_rms(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    _relabel(apps, "careplans", "rms")


def _fk(
    to: str, related_name: str, on_delete: Callable[..., None], *, null: bool
) -> models.ForeignKey[Any, Any]:
    return models.ForeignKey(
        blank=null, null=null, on_delete=on_delete, related_name=related_name, to=to
    )


STATE_OPERATIONS = [
    migrations.CreateModel(
        name="Resource",
        fields=[
            (
                "id",
                models.BigAutoField(
                    auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                ),
            ),
            ("public_id", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
            ("title", models.CharField(max_length=200)),
            (
                "kind",
                models.CharField(
                    choices=[("link", "Web link"), ("video", "Video"), ("leaflet", "PDF leaflet")],
                    max_length=10,
                ),
            ),
            ("url", models.URLField(blank=True)),
            ("file", models.FileField(blank=True, upload_to="resources/")),
            ("description", models.TextField(blank=True)),
            ("created_at", models.DateTimeField(auto_now_add=True)),
            (
                "status",
                models.CharField(
                    choices=[("draft", "Draft"), ("approved", "Approved"), ("retired", "Retired")],
                    default="draft",
                    max_length=10,
                ),
            ),
            ("review_date", models.DateField(blank=True, null=True)),
            ("approved_at", models.DateTimeField(blank=True, null=True)),
            ("retired_at", models.DateTimeField(blank=True, null=True)),
            ("review_reminder_raised_for", models.DateField(blank=True, null=True)),
            (
                "approved_by",
                _fk(settings.AUTH_USER_MODEL, "+", django.db.models.deletion.PROTECT, null=True),
            ),
            (
                "created_by",
                _fk(settings.AUTH_USER_MODEL, "+", django.db.models.deletion.PROTECT, null=True),
            ),
            (
                "retired_by",
                _fk(settings.AUTH_USER_MODEL, "+", django.db.models.deletion.PROTECT, null=True),
            ),
            (
                "team",
                _fk("rms.team", "resources", django.db.models.deletion.CASCADE, null=False),
            ),
        ],
        options={
            "db_table": "rms_resource",
            "ordering": ["title"],
            "indexes": [
                models.Index(
                    condition=models.Q(("status", "approved")),
                    fields=["review_date"],
                    name="resource_review_due_idx",
                ),
            ],
            "constraints": [
                models.CheckConstraint(
                    condition=models.Q(
                        models.Q(("url", ""), _negated=True),
                        models.Q(("file", ""), _negated=True),
                        _connector="OR",
                    ),
                    name="resource_has_link_or_file",
                ),
                models.CheckConstraint(
                    condition=models.Q(
                        models.Q(("status", "approved"), _negated=True),
                        models.Q(
                            ("approved_at__isnull", False),
                            ("approved_by__isnull", False),
                            ("review_date__isnull", False),
                        ),
                        _connector="OR",
                    ),
                    name="resource_approved_has_review_date",
                ),
                models.CheckConstraint(
                    condition=models.Q(
                        models.Q(("status", "retired"), _negated=True),
                        ("retired_at__isnull", False),
                        _connector="OR",
                    ),
                    name="resource_retired_has_time",
                ),
            ],
        },
    ),
    migrations.AlterField(
        model_name="consentrecord",
        name="resource",
        field=_fk("careplans.resource", "+", django.db.models.deletion.SET_NULL, null=True),
    ),
    migrations.AlterField(
        model_name="pathwayresource",
        name="resource",
        field=_fk(
            "careplans.resource", "pathway_tags", django.db.models.deletion.CASCADE, null=False
        ),
    ),
    migrations.AlterField(
        model_name="resourceshare",
        name="resource",
        field=_fk("careplans.resource", "shares", django.db.models.deletion.PROTECT, null=True),
    ),
    # The tables of these two (careplans_informationpack_resources,
    # careplans_resourceshare_included, column resource_id) do not change either.
    migrations.AlterField(
        model_name="informationpack",
        name="resources",
        field=models.ManyToManyField(blank=True, related_name="packs", to="careplans.resource"),
    ),
    migrations.AlterField(
        model_name="resourceshare",
        name="included",
        field=models.ManyToManyField(blank=True, related_name="+", to="careplans.resource"),
    ),
]


class Migration(migrations.Migration):
    dependencies = [
        ("careplans", "0009_plan_test_confirm_by"),
        ("rms", "0015_events_more_kinds"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]
    # The core forgets its model only once this app has it.
    run_before = [("rms", "0016_resource_move_to_careplans")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=STATE_OPERATIONS, database_operations=[]
        ),
        migrations.RunPython(content_type_to_careplans, content_type_to_rms, elidable=False),
    ]
