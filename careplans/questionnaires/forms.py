"""Forms of the questionnaire pages: the answer form generated from a questionnaire's items (a
choice item as radio buttons, a number as a number box, text as a text box), and the form that
sends a questionnaire to the patient through PKB. The services check what matters (a request
PKB could not deliver is refused there, with the reason)."""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from careplans.models import Questionnaire
from careplans.questionnaires import scoring

ANSWER_PREFIX = "item_"


def field_name(link_id: str) -> str:
    # linkIds such as "4a" or "1.2" are not all valid HTML names for Django: keep them readable.
    return ANSWER_PREFIX + "".join(c if c.isalnum() else "_" for c in link_id)


class AnswerForm(forms.Form):
    """The questionnaire's answerable items as fields, in order."""

    authored_date = forms.DateField(
        label="Date the patient answered",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Today, for answers taken on the phone now.",
    )

    def __init__(self, *args: Any, questionnaire: Questionnaire, action: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.questionnaire = questionnaire
        self.items = scoring.items_of(questionnaire.fhir)
        for item in self.items:
            label = f"{item.link_id}. {item.text}" if item.link_id.isdigit() else item.text
            field: forms.Field
            if item.options:
                field = forms.ChoiceField(
                    label=label,
                    choices=[(o.code, o.display) for o in item.options],
                    widget=forms.RadioSelect,
                    required=item.required,
                )
            elif item.type == "integer":
                field = forms.IntegerField(label=label, required=item.required)
            elif item.type == "decimal":
                field = forms.DecimalField(label=label, required=item.required)
            else:
                field = forms.CharField(
                    label=label,
                    required=item.required,
                    max_length=2000,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
            self.fields[field_name(item.link_id)] = field
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action
        self.helper.layout = Layout(
            "authored_date",
            *[field_name(item.link_id) for item in self.items],
            StrictButton("Save answers", type="submit", css_class="btn btn-primary"),
        )

    def answers(self) -> dict[str, str]:
        """``{linkId: option code or value}`` of the answered items."""
        out: dict[str, str] = {}
        for item in self.items:
            value = self.cleaned_data.get(field_name(item.link_id))
            if value not in (None, ""):
                out[item.link_id] = str(value)
        return out


class SendForm(forms.Form):
    """Send a questionnaire to the patient through PKB."""

    questionnaire = forms.ModelChoiceField(queryset=Questionnaire.objects.none())
    due_date = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="Blank: today.",
    )

    def __init__(
        self, *args: Any, questionnaires: QuerySet[Questionnaire], action: str, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        field = self.fields["questionnaire"]
        if isinstance(field, forms.ModelChoiceField):
            field.queryset = questionnaires
        # The browser offers no past day; the service refuses one anyway.
        self.fields["due_date"].widget.attrs["min"] = timezone.localdate().isoformat()
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action
        self.helper.attrs = {"hx-post": action, "hx-target": "#questionnaires-panel",
                             "hx-swap": "outerHTML"}  # fmt: skip
        self.helper.layout = Layout(
            "questionnaire",
            "due_date",
            StrictButton("Send through PKB", type="submit", css_class="btn btn-outline-primary"),
        )
