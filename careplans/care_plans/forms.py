"""Forms of the care plan and consent pages. Each carries its crispy ``FormHelper``; the views
call the services, which do the checking that matters (the forms say what shape input has)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from careplans.care_plans import selectors
from careplans.care_plans.services import (
    BODY_MAX,
    CONSENT_NOTE_MAX,
    HEADING_MAX,
    INFORMATION_MAX,
    NOTE_MAX,
    TOPIC_MAX,
)
from careplans.models import PKB_SHARING_TOPIC, ConsentMethod, ConsentStatus, Resource

# The elements the panels are (see templates/careplans/care_plans/*_panel.html).
CARE_PLANS_PANEL_ID = "care-plans-panel"
CONSENT_PANEL_ID = "consent-panel"

# Offered as suggestions; anything else can be typed.
CONSENT_TOPICS = (
    "Remote follow-up by PSA monitoring",
    "Remote follow-up by CEA monitoring",
    PKB_SHARING_TOPIC,
    "Contact by email and text message",
)


def _helper(form: forms.Form, action: str, *parts: Any, button: str, css: str) -> FormHelper:
    helper = FormHelper(form)
    helper.form_method = "post"
    helper.form_action = action
    helper.layout = Layout(*parts, StrictButton(button, type="submit", css_class=css))
    return helper


class CarePlanCreateForm(forms.Form):
    template = forms.ModelChoiceField(
        queryset=selectors.template_list().none(),
        label="Template",
        empty_label="Choose a care plan template",
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "care-plan-create-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["template"]).queryset = selectors.template_list()
        self.helper = _helper(
            self, action, "template", button="Create care plan", css="btn-primary"
        )


class SectionForm(forms.Form):
    """One section of a care plan; saving makes a new version of the plan."""

    heading = forms.CharField(max_length=HEADING_MAX)
    body = forms.CharField(
        label="Text for the patient",
        required=False,
        max_length=BODY_MAX,
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="Plain text. A blank line starts a new paragraph.",
    )
    note = forms.CharField(
        label="Note about this change (optional)",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
        help_text="Kept with the version; not shown to the patient.",
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            self, action, "heading", "body", "note", button="Save new version", css="btn-primary"
        )


class CompareForm(forms.Form):
    """Which two versions to compare (a GET form)."""

    from_version = forms.TypedChoiceField(label="Compare version", coerce=int)
    to_version = forms.TypedChoiceField(label="with version", coerce=int)

    def __init__(self, *args: Any, action: str, numbers: list[int], **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "compare-%s")
        super().__init__(*args, **kwargs)
        choices = [(n, f"Version {n}") for n in numbers]
        cast(forms.TypedChoiceField, self.fields["from_version"]).choices = choices
        cast(forms.TypedChoiceField, self.fields["to_version"]).choices = choices
        self.helper = _helper(
            self,
            action,
            "from_version",
            "to_version",
            button="Compare",
            css="btn-outline-primary btn-sm",
        )
        self.helper.form_method = "get"
        self.helper.disable_csrf = True


class ConsentForm(forms.Form):
    topic = forms.CharField(
        label="Consent to",
        max_length=TOPIC_MAX,
        widget=forms.TextInput(attrs={"list": "consent-topics", "autocomplete": "off"}),
        help_text="Choose a suggestion or type what the patient was asked about.",
    )
    information_given = forms.CharField(
        label="Information given",
        required=False,
        max_length=INFORMATION_MAX,
        help_text='The leaflet or information and its version, e.g. "Prostate remote '
        'follow-up leaflet v3".',
    )
    resource = forms.ModelChoiceField(
        label="Resource from the library (optional)",
        queryset=Resource.objects.none(),
        required=False,
        empty_label="None",
    )
    method = forms.ChoiceField(label="How", choices=ConsentMethod.choices, widget=forms.RadioSelect)
    status = forms.ChoiceField(
        label="Decision",
        choices=[(ConsentStatus.GIVEN, "Given"), (ConsentStatus.DECLINED, "Declined")],
        widget=forms.RadioSelect,
    )
    given_at = forms.DateTimeField(
        label="When",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=CONSENT_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shared with the patient on Patients Know Best.",
    )

    def __init__(
        self,
        *args: Any,
        action: str,
        resources: QuerySet[Resource],
        born: dt.date | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.born = born
        field = cast(forms.ModelChoiceField, self.fields["resource"])
        field.queryset = resources
        # A retired leaflet is not offered; a consent recorded with one before it was retired
        # keeps it (the queryset still accepts it).
        field.choices = [("", "None")] + [
            (str(r.pk), str(r)) for r in resources.exclude(status=Resource.Status.RETIRED)
        ]
        self.helper = _helper(
            self,
            action,
            "topic",
            "information_given",
            "resource",
            "method",
            "status",
            "given_at",
            "note",
            button="Record consent",
            css="btn-primary",
        )

    def clean_given_at(self) -> dt.datetime | None:
        """The service's date checks, here too, so they show with the form's own errors."""
        given_at: dt.datetime | None = self.cleaned_data.get("given_at")
        if given_at is None:
            return given_at
        if self.born is not None and timezone.localdate(given_at) < self.born:
            raise forms.ValidationError(
                "The time consent was given is before the patient's date of birth."
            )
        if given_at > timezone.now() + dt.timedelta(minutes=5):
            raise forms.ValidationError("The time consent was given cannot be in the future.")
        return given_at


class ConsentWithdrawForm(forms.Form):
    method = forms.ChoiceField(label="How", choices=ConsentMethod.choices, widget=forms.RadioSelect)
    given_at = forms.DateTimeField(
        label="When the patient withdrew",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    note = forms.CharField(
        label="Note (optional)",
        required=False,
        max_length=CONSENT_NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            self,
            action,
            "method",
            "given_at",
            "note",
            button="Record withdrawal",
            css="btn-outline-danger",
        )
