"""The patient-entered data panel's one action: mark an entry as seen. With JavaScript it
posts through htmx and swaps the panel in place; without, it is a plain form that redirects."""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms

# The element the panel's buttons replace (templates/pkb_bridge/patient_data/panel.html).
PANEL_ID = "patient-data-panel"


class MarkSeenForm(forms.Form):
    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action
        self.helper.form_class = "patient-data-seen mb-0"
        self.helper.attrs = {
            "hx-post": action,
            "hx-target": f"#{PANEL_ID}",
            "hx-swap": "outerHTML",
        }
        self.helper.layout = Layout(
            StrictButton("Mark as seen", type="submit", css_class="btn-outline-primary btn-sm")
        )
