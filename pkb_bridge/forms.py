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
        # Fields a subclass leaves out go before the layout is built, so the layout names
        # only fields the form has (crispy forms logs a traceback for each missing one).
        self.drop_fields()
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

    def drop_fields(self) -> None:
        """Remove the fields this instance does not ask for."""

    def layout_parts(self) -> list[Any]:
        return []


class OptInForm(ActionForm):
    """Confirm sharing the patient with PKB, after the preview. ``attest`` asks for the
    clinician's statement of consent (no consent record of the RMS covers it); ``breaches``
    offers the choice about the results that are the evidence of an open breach."""

    label = "Share with Patients Know Best"

    HOLD = "hold"
    PUBLISH = "publish"

    attestation = forms.CharField(
        label="How and when did the patient consent to sharing with Patients Know Best?",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text="No consent record covers sharing with PKB. For example: consented verbally "
        "in clinic on 3 March, consent form filed in the paper notes. Your name and the time "
        "are recorded with it.",
    )
    breach_evidence = forms.ChoiceField(
        label="Results that are the evidence of an open threshold breach",
        choices=[
            (HOLD, "Hold them until a clinician releases them (advised)"),
            (PUBLISH, "Publish them under the team's release policy"),
        ],
        initial=HOLD,
        required=False,
        widget=forms.RadioSelect,
    )

    def __init__(
        self, *args: Any, attest: bool = False, breaches: bool = False, **kwargs: Any
    ) -> None:
        self.attest = attest
        self.breaches = breaches
        super().__init__(*args, **kwargs)

    def drop_fields(self) -> None:
        if not self.attest:
            del self.fields["attestation"]
        if not self.breaches:
            del self.fields["breach_evidence"]

    def layout_parts(self) -> list[Any]:
        return [name for name in ("attestation", "breach_evidence") if name in self.fields]

    def hold_breach_evidence(self) -> bool:
        """Hold unless the clinician chose to publish: a post without the choice holds."""
        return self.cleaned_data.get("breach_evidence") != self.PUBLISH


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
