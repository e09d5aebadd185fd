"""Sign-in security."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rms", "0004_patient_entered_data")]

    operations: list[migrations.operations.base.Operation] = []
