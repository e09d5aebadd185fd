"""The resource library's approval workflow."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("rms", "0002_inbound_messages")]

    operations: list[migrations.operations.base.Operation] = []
