"""Patient-entered data."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("rms", "0003_resource_library"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations: list[migrations.operations.base.Operation] = [
        migrations.AlterField(
            model_name="result",
            name="category",
            field=models.CharField(
                choices=[
                    ("lab", "Laboratory"),
                    ("radiology", "Radiology"),
                    ("patient", "Patient-entered"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="result",
            name="seen_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="result",
            name="seen_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
