"""django-auditlog registration of every clinical model (changes: who, when, what)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from typing import Any

from auditlog.diff import get_field_value, model_instance_diff, track_field
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db.models import DateTimeField, JSONField, Model
from django.utils import timezone
from django.utils.encoding import smart_str

from rms.models import (
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Membership,
    Observation,
    Patient,
    Result,
    Team,
)

auditlog.register(Team)
auditlog.register(Membership)
auditlog.register(Patient)
auditlog.register(CaseloadEntry)
auditlog.register(Diagnosis)
auditlog.register(Result)
auditlog.register(Observation)
auditlog.register(Appointment)
# PDF bytes are not copied into the change log; the document row keeps them.
auditlog.register(Document, exclude_fields=["content_pdf"])
# InboundMessage is not registered: it is the record of what a sender said, written once and
# then only moved on by processing; every action a person takes on it (reprocess, match,
# create the patient) is written to Django admin's own log, and what it filed is in the
# clinical models' history. Registering it would cost three queries a message on the feed's
# hot path for no extra information.


@functools.cache
def _fields(
    model: type[Model],
) -> tuple[list[tuple[str, str]], dict[str, str], list[Any], list[Any]]:
    """The registered fields of ``model`` as ``created_entries`` writes them, sorted once a
    model: times and foreign keys (by id), the others, and the JSON ones."""
    # What auditlog.diff.get_fields_in_model gives for an instance of the model.
    fields: list[Any] = [f for f in model._meta.get_fields() if track_field(f)]
    by_id = not getattr(settings, "AUDITLOG_USE_FK_STRING_REPRESENTATION", False)
    plain = [
        (f.name, "time" if isinstance(f, DateTimeField) else "id")
        for f in fields
        if isinstance(f, DateTimeField)
        or (by_id and (f.one_to_one or f.many_to_one) and hasattr(f, "rel_class"))
    ]
    simple = {name for name, _ in plain}
    attnames = {f.name: f.attname for f in fields if f.name in simple}
    others = [f for f in fields if f.name not in simple and not isinstance(f, JSONField)]
    generic = [f for f in fields if isinstance(f, JSONField)]
    return plain, attnames, others, generic


def created_entry_values(
    instances: Sequence[Model],
    *,
    actor: User | None,
    additional_data: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The field values of ``created_entries`` (the content type and the actor as objects),
    for a writer that builds rows without model instances (the inbound feed's one-statement
    filing)."""
    if not instances:
        return []
    model = type(instances[0])
    content_type = ContentType.objects.get_for_model(model)
    as_json = getattr(settings, "AUDITLOG_STORE_JSON_CHANGES", False)
    plain, attnames, others, generic = _fields(model)

    def changes(instance: Model) -> dict[str, Any] | None:
        if as_json:
            return model_instance_diff(None, instance, use_json_for_changes=True)
        # What model_instance_diff(None, instance) gives, without its exceptions for the
        # missing old instance and its checks of each field's type a row: every field whose
        # value is not "None", from "None". A tenth of the time, which matters for hundreds
        # of thousands of rows.
        diff: dict[str, Any] = {}
        for name, kind in plain:
            if kind == "time":
                moment = getattr(instance, name)  # None too: it is not the text "None"
                if moment is not None and timezone.is_aware(moment):
                    moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
                diff[name] = ("None", str(moment))
            else:  # a foreign key's id, None included (it is not the text "None")
                diff[name] = ("None", smart_str(getattr(instance, attnames[name])))
        for f in others:
            value = smart_str(getattr(instance, f.name))
            if value != "None":
                diff[f.name] = ("None", value)
        for f in generic:
            value = get_field_value(instance, f)
            if value != "None":
                diff[f.name] = ("None", smart_str(value))
        return diff or None

    return [
        {
            "content_type": content_type,
            "object_pk": str(instance.pk),
            "object_id": instance.pk,
            "object_repr": smart_str(instance),
            "action": LogEntry.Action.CREATE,
            "changes": changes(instance),
            "actor": actor,
            "additional_data": additional_data,
        }
        for instance in instances
    ]


def created_entries(
    instances: Sequence[Model],
    *,
    actor: User | None,
    additional_data: dict[str, Any] | None = None,
) -> list[LogEntry]:
    """The change log's "created" entries (unsaved) of ``instances`` (saved rows of one
    registered model, written without Django's signals: a bulk import), as django-auditlog
    writes them when such a row is saved: who, when, every field. The import's tests and
    the inbound feed's (``tests/rms/inbound/test_express.py``, which writes them as rows)
    compare them with auditlog's own."""
    return [
        LogEntry(**values)
        for values in created_entry_values(instances, actor=actor, additional_data=additional_data)
    ]
