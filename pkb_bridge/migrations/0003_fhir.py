"""PKB's FHIR API: questionnaire requests and patient-entered data."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("pkb_bridge", "0002_connection_row")]

    operations: list[migrations.operations.base.Operation] = []
