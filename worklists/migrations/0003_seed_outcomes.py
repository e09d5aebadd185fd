"""Seed the outcomes a clinician picks from when completing a work item (data only; the schema
is in 0002).

An outcome that already exists under its code is left alone, so a team's edits in admin survive
a re-run; reversing removes nothing (completed items may already name them). Only "no action
needed" does not count towards a rule's alert yield.
"""

from django.db import migrations

OUTCOMES = [
    # (code, label, counts_as_action)
    ("contacted_patient", "Contacted patient", True),
    ("repeat_test_requested", "Repeat test requested", True),
    ("referred_back_to_clinic", "Referred back to clinic", True),
    ("advice_given", "Advice given", True),
    ("referred_to_gp", "Referred to GP", True),
    ("no_action_needed", "No action needed", False),
]


def seed(apps, schema_editor):
    Outcome = apps.get_model("worklists", "Outcome")
    for order, (code, label, counts_as_action) in enumerate(OUTCOMES, start=1):
        Outcome.objects.get_or_create(
            code=code,
            defaults={
                "label": label,
                "counts_as_action": counts_as_action,
                "active": True,
                "order": order * 10,
            },
        )


class Migration(migrations.Migration):
    dependencies = [
        ("worklists", "0002_outcome"),
    ]

    operations = [
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
