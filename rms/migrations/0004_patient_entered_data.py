"""Patient-entered data."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rms", "0003_resource_library")]

    operations: list[migrations.operations.base.Operation] = []
