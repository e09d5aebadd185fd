"""Questionnaires, requests and responses."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("careplans", "0004_information_packs")]

    operations: list[migrations.operations.base.Operation] = []
