"""Forms of the follow-up plan pages. Each carries its crispy ``FormHelper`` and posts to its
action; the views call the services, which do the checking that matters (the forms only say
what shape the input has)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, cast

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from careplans.followup import selectors
from careplans.followup.rules import parameters
from careplans.followup.services.plans import MAX_INTERVAL_MONTHS, REASON_MAX
from careplans.models import Pathway, Rule, ScheduleStep, TreatmentEvent

# The element the panel's start form replaces (see templates/careplans/patient_plans.html).
PANEL_ID = "careplans-panel"

# What each rule parameter means, for the form that edits a plan's rule.
PARAMETER_HELP = {
    "threshold": "The limit, in the rule's units.",
    "direction": "above or below.",
    "confirmations": "How many results in a row must be past the limit.",
    "units": "The units the rule compares in (e.g. ug/L); results are converted.",
    "inclusive": "true: at the limit counts; false: only beyond it.",
    "rise": "How far above the nadir, in the rule's units.",
    "anchor_at": "Look for the nadir from this date (YYYY-MM-DD); blank: the plan's anchor date.",
    "count": "How many rises in a row.",
    "min_rise": "Ignore rises this small or smaller (blank: any rise).",
    "max_months": "Raise when the doubling time is under this many months.",
    "min_points": "At least this many rising results to fit a doubling time.",
    "percent": "The rise, in per cent, that is raised.",
    "against": "previous (the result before) or baseline.",
    "baseline": "A fixed baseline in the rule's units (with against = baseline).",
}

_INTEGER = re.compile(r"[+-]?\d+")


def parse_parameter(text: str) -> Any:
    """A value typed into the rule form, as the rules take it from JSON: true/false, a whole
    number, or the text itself (decimals stay text so 0.2 is not turned into a float)."""
    value = text.strip()
    if value.lower() in {"true", "false"}:
        return value.lower() == "true"
    if _INTEGER.fullmatch(value):
        return int(value)
    return value


def show_parameter(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _reason_field(label: str = "Reason") -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=REASON_MAX,
        help_text="Kept with the plan's history. Do not include other people's details.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )


def _helper(form: forms.Form, action: str, *parts: Any, button: str, css: str) -> FormHelper:
    helper = FormHelper(form)
    helper.form_method = "post"
    helper.form_action = action
    helper.layout = Layout(*parts, StrictButton(button, type="submit", css_class=css))
    return helper


class PlanStartForm(forms.Form):
    """Start a pathway for the patient; posts with htmx and replaces the plans panel."""

    pathway = forms.ModelChoiceField(
        queryset=Pathway.objects.none(),
        to_field_name="code",
        empty_label="Choose a pathway",
    )
    anchor_date = forms.DateField(
        label="Anchor date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="The treatment date the schedule counts from (date of surgery, end of "
        "radiotherapy, start of surveillance).",
    )

    def __init__(self, *args: Any, action: str, born: dt.date | None = None, **kwargs: Any) -> None:
        # Its own ids: the panel shares the patient page with other apps' forms.
        kwargs.setdefault("auto_id", "plan-start-%s")
        super().__init__(*args, **kwargs)
        self.born = born
        cast(forms.ModelChoiceField, self.fields["pathway"]).queryset = selectors.pathway_list()
        self.helper = _helper(
            self, action, "pathway", "anchor_date", button="Start plan", css="btn-primary"
        )
        self.helper.attrs = {
            "hx-post": action,
            "hx-target": f"#{PANEL_ID}",
            "hx-swap": "outerHTML",
        }

    def clean_anchor_date(self) -> dt.date | None:
        """The service's date checks on the patient, here too, so they show with the form's
        own errors (a missing pathway does not hide a date before the patient's birth)."""
        anchor: dt.date | None = self.cleaned_data.get("anchor_date")
        if anchor is None:
            return anchor
        if self.born is not None and anchor < self.born:
            raise forms.ValidationError(
                "The anchor (treatment) date is before the patient's date of birth."
            )
        if anchor > timezone.localdate():
            raise forms.ValidationError("The anchor (treatment) date cannot be in the future.")
        return anchor


class PlanStatusForm(forms.Form):
    """Pause, resume or end a plan, with the reason."""

    reason = _reason_field()

    def __init__(
        self,
        *args: Any,
        action: str,
        button: str,
        css: str = "btn-outline-secondary",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(self, action, Field("reason"), button=button, css=css)


class IntervalForm(forms.Form):
    """Change how often a test is due in one phase of the plan."""

    step = forms.ModelChoiceField(queryset=ScheduleStep.objects.none(), widget=forms.HiddenInput)
    every_months = forms.IntegerField(
        label="Every (months)", min_value=1, max_value=MAX_INTERVAL_MONTHS
    )
    reason = _reason_field()

    def __init__(
        self, *args: Any, action: str, steps: QuerySet[ScheduleStep], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["step"]).queryset = steps
        self.helper = _helper(
            self,
            action,
            "step",
            "every_months",
            "reason",
            button="Change interval",
            css="btn-outline-primary btn-sm",
        )


class RuleParamsForm(forms.Form):
    """Change the values of one of the plan's rules: one field per parameter the rule type
    takes, filled with the current values; a blank optional parameter takes its default."""

    rule = forms.ModelChoiceField(queryset=Rule.objects.none(), widget=forms.HiddenInput)

    def __init__(self, *args: Any, action: str, rule: Rule, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {})
        kwargs["initial"] = {"rule": rule.pk, **kwargs["initial"]}
        super().__init__(*args, **kwargs)
        self.plan_rule = rule
        cast(forms.ModelChoiceField, self.fields["rule"]).queryset = Rule.objects.filter(pk=rule.pk)
        required, optional = parameters(rule.rule_type)
        current: Mapping[str, Any] = rule.params if isinstance(rule.params, Mapping) else {}
        self.parameter_names = sorted(required) + sorted(optional)
        for name in self.parameter_names:
            self.fields[self.field_name(name)] = forms.CharField(
                label=name.replace("_", " ").capitalize(),
                required=name in required,
                initial=show_parameter(current.get(name)),
                help_text=PARAMETER_HELP.get(name, ""),
                widget=forms.TextInput(attrs={"autocomplete": "off"}),
            )
        self.fields["reason"] = _reason_field()
        self.helper = _helper(
            self,
            action,
            "rule",
            *(self.field_name(name) for name in self.parameter_names),
            "reason",
            button="Change rule",
            css="btn-outline-primary btn-sm",
        )

    @staticmethod
    def field_name(parameter: str) -> str:
        return f"param_{parameter}"

    def params(self) -> dict[str, Any]:
        """The rule's new parameters (after ``is_valid``); blank ones are left out."""
        values: dict[str, Any] = {}
        for name in self.parameter_names:
            text = self.cleaned_data.get(self.field_name(name), "")
            if text.strip():
                values[name] = parse_parameter(text)
        return values


class AddTestForm(forms.Form):
    """Add a test to this patient's plan, due from now on."""

    test_code = forms.CharField(
        label="Test code",
        max_length=40,
        help_text="As the lab sends it (OBX-3), e.g. TESTO.",
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    test_name = forms.CharField(label="Test name", max_length=100)
    every_months = forms.IntegerField(
        label="Every (months)", min_value=1, max_value=MAX_INTERVAL_MONTHS
    )
    reason = _reason_field()

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(
            self,
            action,
            "test_code",
            "test_name",
            "every_months",
            "reason",
            button="Add test",
            css="btn-outline-primary",
        )


class TreatmentEventForm(forms.Form):
    """Record a treatment given after the anchor: it starts a new episode for the rules."""

    kind = forms.ChoiceField(label="Treatment", choices=TreatmentEvent.Kind.choices)
    on = forms.DateField(
        label="Date of the treatment",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Results from this date on are judged as a new episode (a new nadir, a new "
        "doubling time).",
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason"] = _reason_field("Note")
        self.helper = _helper(
            self,
            action,
            "kind",
            "on",
            "reason",
            button="Record treatment",
            css="btn-outline-primary",
        )
