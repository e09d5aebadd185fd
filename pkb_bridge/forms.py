"""Forms of the PKB panel. Each is a button (with a reason where one is asked for) that posts
to its action: with JavaScript through htmx, swapping the panel in place; without it as a
plain form whose answer is a redirect back to the PKB page."""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms

# The element the panel's buttons replace (see templates/pkb_bridge/patient_panel.html).
PANEL_ID = "pkb-panel"


class ActionForm(forms.Form):
    """A button posting to ``action``. Subclasses add fields before the button."""

    label = "Submit"
    # Bootstrap classes besides "btn", which StrictButton adds itself.
    button_class = "btn-primary"

    def __init__(
        self,
        *args: Any,
        action: str,
        label: str | None = None,
        button_class: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action
        self.helper.form_class = "pkb-action"
        self.helper.attrs = {
            "hx-post": action,
            "hx-target": f"#{PANEL_ID}",
            "hx-swap": "outerHTML",
        }
        self.helper.layout = Layout(
            *self.layout_parts(),
            StrictButton(
                label or self.label, type="submit", css_class=button_class or self.button_class
            ),
        )

    def layout_parts(self) -> list[Any]:
        return []


class OptInForm(ActionForm):
    label = "Share with Patients Know Best"


class InvitationResendForm(ActionForm):
    label = "Resend invitation"
    button_class = "btn-outline-secondary btn-sm"


class DecisionForm(ActionForm):
    """Release or hold one item, with an optional reason kept with the decision."""

    button_class = "btn-outline-primary btn-sm"

    reason = forms.CharField(
        label="Reason (optional)",
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "placeholder": "Reason (optional)"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A row of the item table: the label is for screen readers only.
        self.helper.label_class = "visually-hidden"
        self.helper.form_class = "pkb-action d-flex flex-wrap gap-1 align-items-start"

    def layout_parts(self) -> list[Any]:
        return [Field("reason")]


class WithdrawForm(ActionForm):
    """Stop sharing the patient with PKB: the reason is kept with the enrolment."""

    label = "Stop sharing with Patients Know Best"
    button_class = "btn-danger"

    reason = forms.CharField(
        label="Why is sharing being stopped?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="For example: the patient asked to stop, or was discharged. Do not include "
        "other people's details.",
    )

    def layout_parts(self) -> list[Any]:
        return ["reason"]
