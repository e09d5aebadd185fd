"""Audit and API tokens."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rms", "0005_security")]

    operations: list[migrations.operations.base.Operation] = []
