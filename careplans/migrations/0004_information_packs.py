"""Information packs and milestones."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("careplans", "0003_care_plans")]

    operations: list[migrations.operations.base.Operation] = []
