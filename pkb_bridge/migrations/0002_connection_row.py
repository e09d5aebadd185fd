"""The one PKB connection row the dispatcher locks to claim messages (no race to create it)."""

from django.db import migrations


def create_connection(apps, schema_editor):
    apps.get_model("pkb_bridge", "Connection").objects.get_or_create(name="pkb")


class Migration(migrations.Migration):
    dependencies = [("pkb_bridge", "0001_initial")]

    operations = [migrations.RunPython(create_connection, migrations.RunPython.noop)]
