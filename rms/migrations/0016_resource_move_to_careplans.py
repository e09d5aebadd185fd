"""The resource library's model leaves the core record (state only: its table stays).

The app that owns the library now holds the model, on the same table, and runs its own
migration before this one; here nothing runs against the database.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("rms", "0015_events_more_kinds"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Resource")],
            database_operations=[],
        ),
    ]
