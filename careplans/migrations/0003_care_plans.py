"""Care plan templates and documents, consent records."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("careplans", "0002_seed_pathways")]

    operations: list[migrations.operations.base.Operation] = []
