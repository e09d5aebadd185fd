# The results and event deliveries are the largest tables, and each message filed writes
# every index of both: these two single-column indexes are covered by composite ones that
# begin with the same column (result_patient_time_idx and result_patient_filler_idx;
# rms_event_once_each). Only the indexes are dropped: Django's own AlterField would also drop
# and re-add each foreign key, which re-checks every row of the table under a lock.

import django.db.models.deletion
from django.db import migrations, models

DROPPED = ["rms_result_patient_id_ab17b392", "rms_eventdelivery_event_id_5edebe96"]
RESTORED = [
    'CREATE INDEX IF NOT EXISTS "rms_result_patient_id_ab17b392" ON "rms_result" ("patient_id")',
    'CREATE INDEX IF NOT EXISTS "rms_eventdelivery_event_id_5edebe96" '
    'ON "rms_eventdelivery" ("event_id")',
]


class Migration(migrations.Migration):
    dependencies = [
        ("rms", "0017_result_patient_filler_idx"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="eventdelivery",
                    name="event",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="deliveries",
                        to="rms.domainevent",
                    ),
                ),
                migrations.AlterField(
                    model_name="result",
                    name="patient",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="results",
                        to="rms.patient",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [f'DROP INDEX IF EXISTS "{name}"' for name in DROPPED], reverse_sql=RESTORED
                ),
            ],
        ),
    ]
