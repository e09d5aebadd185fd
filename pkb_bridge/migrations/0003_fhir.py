"""PKB's FHIR API: questionnaire requests and patient-entered data."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pkb_bridge", "0002_connection_row"),
        ("careplans", "0005_questionnaires"),
        ("rms", "0001_initial"),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.CreateModel(
            name="FhirCursor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("resource_type", models.CharField(max_length=40)),
                ("last_updated", models.DateTimeField(blank=True, null=True)),
                ("polled_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True)),
                (
                    "connection",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="cursors",
                        to="pkb_bridge.connection",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        fields=("connection", "resource_type"), name="fhir_cursor_per_type"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="FhirInbound",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("resource_type", models.CharField(max_length=40)),
                ("fhir_id", models.CharField(max_length=120)),
                ("last_updated", models.CharField(blank=True, max_length=40)),
                ("resource", models.JSONField(help_text="The FHIR resource as PKB sent it")),
                (
                    "status",
                    models.CharField(
                        choices=[("filed", "Filed"), ("held", "Held: could not be filed")],
                        max_length=10,
                    ),
                ),
                ("reason", models.TextField(blank=True)),
                ("nhs_number", models.CharField(blank=True, max_length=10)),
                ("received_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "patient",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="rms.patient",
                    ),
                ),
                (
                    "response",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="careplans.questionnaireresponse",
                    ),
                ),
                (
                    "result",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="rms.result",
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "held")),
                        fields=["received_at"],
                        name="fhir_inbound_held_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("resource_type", "fhir_id"), name="fhir_inbound_once_per_resource"
                    )
                ],
            },
        ),
    ]
