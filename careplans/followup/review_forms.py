"""The virtual review's outcome form. It carries its crispy ``FormHelper``; the view calls
``careplans.followup.review.review_record``, which does the checking that matters."""

from __future__ import annotations

from typing import Any

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms

from careplans.followup.review import NOTE_MAX, ReviewOutcome
from worklists.models import WorkItem


class _ItemChoice(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.get_kind_display()}: {obj.title}"


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Outcome of the review",
        choices=ReviewOutcome.choices,
        widget=forms.RadioSelect,
    )
    note = forms.CharField(
        label="Note for the letter",
        required=False,
        max_length=NOTE_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=(
            "Goes into the review letter the patient and their GP read. Do not include other "
            "people's details."
        ),
    )
    work_item = forms.UUIDField(required=False, widget=forms.HiddenInput)
    addressed = _ItemChoice(
        label="Work items this review addresses",
        queryset=WorkItem.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Each ticked item is completed with the review's outcome; untick any it does "
        "not settle.",
    )

    def __init__(
        self,
        *args: Any,
        action: str,
        addressable: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "review-%s")
        super().__init__(*args, **kwargs)
        items = addressable if addressable is not None else WorkItem.objects.none()
        field = self.fields["addressed"]
        field.queryset = items  # type: ignore[attr-defined]
        if not self.is_bound:
            self.initial.setdefault("addressed", [item.pk for item in items])
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.form_action = action
        self.helper.layout = Layout(
            Field("outcome"),
            Field("note"),
            Field("addressed"),
            "work_item",
            StrictButton(
                "Record the review and file the letter", type="submit", css_class="btn-primary"
            ),
        )
