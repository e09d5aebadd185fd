"""Forms of the worklist pages. They collect and type the input; the services decide whether an
action is allowed (the actor's role, the item's state), and their refusals are shown in the
item's row.

The filter, bulk and period forms render with crispy. The four small forms of each row are
written out in ``templates/worklists/_row.html`` instead (a page has 50 rows, each with four
forms): the classes here still validate what those post.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import HTML, Column, Div, Field, Layout, Row
from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from rms.models import Team, TumourSite
from worklists.models import Outcome, WorkItem
from worklists.reads import BY_ITEM, BY_PATIENT, MINE, OVERDUE, TEAM, UNASSIGNED, WorklistFilters

NOTE_MAX = 2000
REASON_MAX = 500
# A page shows 50 items; a bulk action on more than this was not made from a page.
BULK_MAX = 200

# The bulk bar's actions (the value of the button pressed).
BULK_ASSIGN_TO_ME = "assign_me"
BULK_COMPLETE = "complete"
BULK_DISMISS = "dismiss"

# A patient's row: what to do with the patient's ticked items.
PATIENT_REVIEW = "review"
PATIENT_ASSIGN = "assign"
PATIENT_COMPLETE = "complete"


def user_label(user: User) -> str:
    return user.get_full_name() or user.get_username()


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class WorklistFilterForm(forms.Form):
    """The worklist's filters, read from the query string. A value that is not one of the
    choices (a team of someone else's, a stale user) is ignored and said so on the field."""

    show = forms.ChoiceField(
        choices=[(TEAM, "My teams"), (MINE, "Mine"), (OVERDUE, "Overdue")],
        required=False,
        widget=forms.HiddenInput,
    )
    view = forms.ChoiceField(
        choices=[(BY_PATIENT, "By patient"), (BY_ITEM, "By item")],
        required=False,
        widget=forms.HiddenInput,
    )
    kind = forms.ChoiceField(label="Kind", required=False)
    priority = forms.TypedChoiceField(
        label="Priority", required=False, coerce=int, empty_value=None
    )
    team = forms.ChoiceField(label="Team", required=False)
    tumour_site = forms.ChoiceField(label="Tumour site", required=False)
    due_before = forms.DateField(
        label="Due by", required=False, widget=_date_input(), help_text="On or before this date"
    )
    assignee = forms.ChoiceField(label="Assigned to", required=False)

    def __init__(
        self, *args: Any, teams: Sequence[Team], people: Iterable[User], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        fields = self.fields
        fields["kind"].choices = [("", "All kinds"), *WorkItem.Kind.choices]  # type: ignore[attr-defined]
        fields["priority"].choices = [("", "Any priority"), *WorkItem.Priority.choices]  # type: ignore[attr-defined]
        fields["team"].choices = [("", "All my teams"), *((t.code, t.name) for t in teams)]  # type: ignore[attr-defined]
        fields["tumour_site"].choices = [("", "Any tumour site"), *TumourSite.choices]  # type: ignore[attr-defined]
        fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", "Anyone"),
            (UNASSIGNED, "Nobody yet"),
            *((str(person.pk), user_label(person)) for person in people),
        ]
        self.helper = FormHelper(self)
        self.helper.form_method = "get"
        self.helper.form_class = "worklist-filters mb-2"
        self.helper.attrs = {"role": "search", "aria-label": "Filter the worklist"}
        self.helper.layout = Layout(
            "show",
            "view",
            Row(
                Column("kind", css_class="col-sm-6 col-lg-2"),
                Column("priority", css_class="col-sm-6 col-lg-2"),
                Column("team", css_class="col-sm-6 col-lg-2"),
                Column("tumour_site", css_class="col-sm-6 col-lg-2"),
                Column("due_before", css_class="col-sm-6 col-lg-2"),
                Column("assignee", css_class="col-sm-6 col-lg-2"),
                css_class="g-2",
            ),
            Div(
                StrictButton("Filter", type="submit", css_class="btn-outline-primary"),
                HTML(
                    '<a class="btn btn-link" href="?show={{ filters.scope|urlencode }}'
                    '&amp;view={{ view|urlencode }}">Clear filters</a>'
                ),
            ),
        )

    def filters(self) -> WorklistFilters:
        """The valid filters (an invalid one is left out)."""
        data = self.cleaned_data if self.is_bound else {}
        return WorklistFilters(
            scope=data.get("show") or TEAM,
            kind=data.get("kind") or "",
            priority=data.get("priority"),
            team_code=data.get("team") or "",
            tumour_site=data.get("tumour_site") or "",
            due_before=data.get("due_before"),
            assignee=data.get("assignee") or "",
        )

    def chosen_view(self) -> str:
        """By patient (the default) or by item."""
        data = self.cleaned_data if self.is_bound else {}
        return data.get("view") or BY_PATIENT

    def full_clean(self) -> None:
        super().full_clean()
        # Invalid filters are dropped, not refused: the list still shows, with the reason.
        for name in list(self.errors):
            self.cleaned_data.pop(name, None)


class AssignForm(forms.Form):
    """Give one item to a colleague (a clinician or team admin of the item's team), or to
    nobody (blank)."""

    assignee = forms.ChoiceField(label="Assign to", required=False)

    def __init__(self, *args: Any, colleagues: Iterable[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.people = {str(person.pk): person for person in colleagues}
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", "Nobody"),
            *((pk, user_label(person)) for pk, person in self.people.items()),
        ]
        self.fields["assignee"].error_messages["invalid_choice"] = (
            "Choose a clinician or team admin of the item's team."
        )

    def chosen(self) -> User | None:
        return self.people.get(self.cleaned_data["assignee"] or "")


def outcome_choices(outcomes: Iterable[Outcome]) -> list[tuple[str, str]]:
    return [(outcome.code, outcome.label) for outcome in outcomes if outcome.active]


class CompleteForm(forms.Form):
    """Complete one item with an outcome from the configured list and an optional note."""

    outcome = forms.ChoiceField(label="Outcome")
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, outcomes: Iterable[Outcome], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["outcome"]
        field.choices = [("", "Choose the outcome"), *outcome_choices(outcomes)]  # type: ignore[attr-defined]
        field.error_messages["required"] = "Choose what was done (the outcome)."
        field.error_messages["invalid_choice"] = (
            "Choose an outcome from the list; that one is not offered."
        )


class DismissForm(forms.Form):
    """Dismiss one item, saying why nothing needs doing."""

    reason = forms.CharField(label="Reason", max_length=REASON_MAX)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"].error_messages["required"] = "Say why the item needs no action."


class UUIDListField(forms.Field):
    """Public ids of work items (the ticked rows), each a UUID."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value: Any) -> list[uuid.UUID]:
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        try:
            return list(dict.fromkeys(uuid.UUID(str(v)) for v in value))
        except ValueError:
            raise ValidationError("An item's id is not valid.", code="invalid") from None

    def validate(self, value: Any) -> None:
        super().validate(value)
        if len(value) > BULK_MAX:
            raise ValidationError(f"Choose at most {BULK_MAX} items at a time.", code="too_many")


class BulkForm(forms.Form):
    """The bulk bar: the ticked items and what to do with them (the button pressed). The item
    checkboxes are outside this form (they sit in the rows) and join it by their ``form``
    attribute."""

    items = UUIDListField(required=True, error_messages={"required": "Tick at least one item."})
    action = forms.ChoiceField(
        choices=[
            (BULK_ASSIGN_TO_ME, "Assign to me"),
            (BULK_COMPLETE, "Complete"),
            (BULK_DISMISS, "Dismiss"),
        ],
        error_messages={"required": "Choose what to do with the ticked items."},
    )
    outcome = forms.ChoiceField(label="Outcome", required=False)
    note = forms.CharField(label="Note", required=False, max_length=NOTE_MAX)
    reason = forms.CharField(label="Reason", required=False, max_length=REASON_MAX)
    next = forms.CharField(required=False, widget=forms.HiddenInput)

    FORM_ID = "bulk-form"
    RESULT_ID = "bulk-result"

    def __init__(
        self, *args: Any, outcomes: Iterable[Outcome], action_url: str = "", **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "bulk-%s")
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = [  # type: ignore[attr-defined]
            ("", "Choose the outcome"),
            *outcome_choices(outcomes),
        ]
        self.fields["outcome"].error_messages["invalid_choice"] = (
            "Choose an outcome from the list; that one is not offered."
        )
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action_url
        self.helper.form_id = self.FORM_ID
        self.helper.form_class = "worklist-bulk border rounded p-2 mb-3"
        self.helper.attrs = {
            "hx-post": action_url,
            "hx-target": f"#{self.RESULT_ID}",
            "hx-swap": "innerHTML",
            "aria-label": "Act on the ticked items",
            # Shown only while something is ticked (static/js/worklists.js); the answer goes
            # to RESULT_ID, outside the form, so it stays when the ticks go.
            "data-when-ticked": "",
        }
        self.helper.layout = Layout(
            "next",
            HTML(
                '<p class="mb-2"><strong>Ticked items</strong> '
                '<span class="text-body-secondary">(tick rows below, or '
                '<button type="button" class="btn btn-link btn-sm p-0 align-baseline" '
                'data-select-all="items">tick all on this page</button>)</span></p>'
            ),
            Row(
                Column(
                    StrictButton(
                        "Assign to me",
                        type="submit",
                        name="action",
                        value=BULK_ASSIGN_TO_ME,
                        css_class="btn-outline-primary",
                    ),
                    css_class="col-auto align-self-end mb-3",
                ),
                Column(Field("outcome"), css_class="col-sm-6 col-lg-2"),
                Column(Field("note", autocomplete="off"), css_class="col-sm-6 col-lg-3"),
                Column(
                    StrictButton(
                        "Complete",
                        type="submit",
                        name="action",
                        value=BULK_COMPLETE,
                        css_class="btn-outline-success",
                    ),
                    css_class="col-auto align-self-end mb-3",
                ),
                Column(Field("reason", autocomplete="off"), css_class="col-sm-6 col-lg-3"),
                Column(
                    StrictButton(
                        "Dismiss",
                        type="submit",
                        name="action",
                        value=BULK_DISMISS,
                        css_class="btn-outline-secondary",
                    ),
                    css_class="col-auto align-self-end mb-3",
                ),
                css_class="g-2",
            ),
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        action = data.get("action")
        if action == BULK_COMPLETE and not data.get("outcome"):
            self.add_error("outcome", "Choose what was done (the outcome).")
        if action == BULK_DISMISS and not (data.get("reason") or "").strip():
            self.add_error("reason", "Say why the items need no action.")
        return data


class PatientActionForm(forms.Form):
    """A patient's row of the worklist: the patient's ticked items and what to do with them
    (the button pressed): start reviewing them, give them to a colleague, or complete them
    all with one outcome. Written out in ``templates/worklists/_patient.html``."""

    items = UUIDListField(
        required=True, error_messages={"required": "Tick at least one of the patient's items."}
    )
    action = forms.ChoiceField(
        choices=[
            (PATIENT_REVIEW, "Start review"),
            (PATIENT_ASSIGN, "Assign"),
            (PATIENT_COMPLETE, "Complete"),
        ],
        error_messages={"required": "Choose what to do with the ticked items."},
    )
    assignee = forms.ChoiceField(label="Assign to", required=False)
    outcome = forms.ChoiceField(label="Outcome", required=False)
    note = forms.CharField(label="Note", required=False, max_length=NOTE_MAX)
    next = forms.CharField(required=False)

    def __init__(
        self, *args: Any, outcomes: Iterable[Outcome], colleagues: Iterable[User], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.people = {str(person.pk): person for person in colleagues}
        self.fields["assignee"].choices = [  # type: ignore[attr-defined]
            ("", "Nobody"),
            *((pk, user_label(person)) for pk, person in self.people.items()),
        ]
        self.fields["assignee"].error_messages["invalid_choice"] = (
            "Choose a clinician or team admin of the patient's team."
        )
        self.fields["outcome"].choices = [  # type: ignore[attr-defined]
            ("", "Choose the outcome"),
            *outcome_choices(outcomes),
        ]
        self.fields["outcome"].error_messages["invalid_choice"] = (
            "Choose an outcome from the list; that one is not offered."
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("action") == PATIENT_COMPLETE and not data.get("outcome"):
            self.add_error("outcome", "Choose what was done (the outcome).")
        return data

    def chosen(self) -> User | None:
        return self.people.get(self.cleaned_data.get("assignee") or "")


class YieldPeriodForm(forms.Form):
    """The alert-yield period, as ``?from=…&to=…`` (whole days). Blank: the last 90 days."""

    DEFAULT_DAYS = 90
    MAX_DAYS = 3 * 366
    # Field names in the query string: "from" is a Python keyword.
    NAMES = {"start": "from", "end": "to"}

    start = forms.DateField(label="From", required=False, widget=_date_input())
    end = forms.DateField(label="To", required=False, widget=_date_input())

    def __init__(self, *args: Any, today: dt.date, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today
        # Unbound, the form shows the default period it reports on.
        start, end = self.period_of({})
        self.initial.setdefault("start", start)
        self.initial.setdefault("end", end)
        self.helper = FormHelper(self)
        self.helper.form_method = "get"
        self.helper.form_class = "row g-2 align-items-end mb-3"
        self.helper.layout = Layout(
            Column("start", css_class="col-auto"),
            Column("end", css_class="col-auto"),
            Column(
                StrictButton("Show", type="submit", css_class="btn-outline-primary"),
                css_class="col-auto mb-3",
            ),
        )

    def add_prefix(self, field_name: str) -> str:
        return self.NAMES.get(field_name, field_name)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = self.period_of(data)
        if start > end:
            raise ValidationError("The start of the period is after its end.")
        if (end - start).days > self.MAX_DAYS:
            raise ValidationError("Choose a period of three years or less.")
        return data

    def period_of(self, data: dict[str, Any]) -> tuple[dt.date, dt.date]:
        end = data.get("end") or self.today
        start = data.get("start") or end - dt.timedelta(days=self.DEFAULT_DAYS)
        return start, end

    def period(self) -> tuple[dt.date, dt.date]:
        """The chosen period, or the default one when what was asked for is not valid."""
        if self.is_bound and self.is_valid():
            return self.period_of(self.cleaned_data)
        return self.period_of({})
