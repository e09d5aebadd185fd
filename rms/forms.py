"""Forms of the clinician pages. They collect and type the input; the services decide whether
it is acceptable, and their errors are attached back to the fields (``attach_errors``)."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Column, Fieldset, Layout, Row, Submit
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from rms import uk_formats
from rms.models import Patient, Team
from rms.services import PATIENT_FIELDS

# Patient details belong to the patient, not to whoever is typing: no browser autofill.
_NO_AUTOFILL = {"autocomplete": "off"}


def _model_field(name: str, **kwargs: Any) -> forms.Field:
    field = Patient._meta.get_field(name).formfield(**kwargs)  # type: ignore[union-attr]
    if field is None:  # pragma: no cover - every patient field has a form field
        raise LookupError(name)
    field.widget.attrs.update(_NO_AUTOFILL)
    return field


class PatientDetailsForm(forms.Form):
    """A patient's identifiers and demographics, as ``services.patient_update`` takes them."""

    # Wider than the stored ten digits: people type NHS numbers as 3-3-4 with spaces, and
    # the services normalise and validate them (Modulus 11) with a message that says why.
    nhs_number = forms.CharField(
        label="NHS number",
        max_length=20,
        required=False,
        help_text="10 digits; spaces are fine. Leave blank if the patient has none.",
        widget=forms.TextInput(attrs={**_NO_AUTOFILL, "inputmode": "numeric"}),
    )
    nhs_number_status = _model_field(
        "nhs_number_status",
        help_text="PKB relies on 01 (verified). Only a team admin changes it, with a reason.",
    )
    nhs_number_status_reason = forms.CharField(
        label="Reason for changing the NHS number status",
        required=False,
        max_length=500,
        help_text="Needed when the status changes, e.g. “Traced on PDS, 6 Dec 2026”.",
        widget=forms.TextInput(attrs=_NO_AUTOFILL),
    )
    mrn = _model_field("mrn", help_text="Local hospital number.")
    title = _model_field("title")
    given_name = _model_field("given_name")
    family_name = _model_field("family_name")
    date_of_birth = _model_field(
        "date_of_birth",
        widget=forms.DateInput(attrs={**_NO_AUTOFILL, "type": "date"}, format="%Y-%m-%d"),
    )
    sex = _model_field("sex")
    address_line_1 = _model_field("address_line_1")
    address_line_2 = _model_field("address_line_2")
    address_city = _model_field("address_city")
    address_county = _model_field("address_county")
    postcode = _model_field("postcode")
    phone_mobile = _model_field("phone_mobile")
    phone_home = _model_field("phone_home")
    phone_work = _model_field("phone_work")
    email = _model_field("email")

    submit_label = "Save changes"

    # Older than anyone living (the oldest person on record lived to 122): a mistyped year.
    OLDEST_AGE_YEARS = 122

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = FormHelper(self)
        self.helper.form_method = "post"
        self.helper.layout = Layout(*self.layout_parts(), Submit("submit", self.submit_label))

    def layout_parts(self) -> list[Any]:
        return [
            Fieldset(
                "Identifiers",
                Row(
                    Column("nhs_number", css_class="col-md-4"),
                    Column("nhs_number_status", css_class="col-md-5"),
                    Column("mrn", css_class="col-md-3"),
                ),
                "nhs_number_status_reason",
            ),
            Fieldset(
                "Name and birth",
                Row(
                    Column("title", css_class="col-md-2"),
                    Column("given_name", css_class="col-md-5"),
                    Column("family_name", css_class="col-md-5"),
                ),
                Row(
                    Column("date_of_birth", css_class="col-md-4"),
                    Column("sex", css_class="col-md-4"),
                ),
            ),
            Fieldset(
                "Address",
                "address_line_1",
                "address_line_2",
                Row(
                    Column("address_city", css_class="col-md-5"),
                    Column("address_county", css_class="col-md-4"),
                    Column("postcode", css_class="col-md-3"),
                ),
            ),
            Fieldset(
                "Contact",
                Row(
                    Column("phone_mobile", css_class="col-md-4"),
                    Column("phone_home", css_class="col-md-4"),
                    Column("phone_work", css_class="col-md-4"),
                ),
                "email",
            ),
        ]

    # The UK formats are checked on what is typed here; a value kept as it was (from the
    # hospital's records, say) is not re-checked, so it never blocks saving another change.
    def _typed(self, name: str) -> bool:
        return name in self.changed_data

    def clean_date_of_birth(self) -> dt.date | None:
        born: dt.date | None = self.cleaned_data.get("date_of_birth")
        if born is None or not self._typed("date_of_birth"):
            return born
        today = timezone.localdate()
        if born > today:
            raise ValidationError("The date of birth is in the future.")
        if today.year - born.year > self.OLDEST_AGE_YEARS:
            raise ValidationError(
                f"This date of birth makes the patient over {self.OLDEST_AGE_YEARS}: "
                "check the year."
            )
        return born

    def clean_postcode(self) -> str:
        value: str = self.cleaned_data.get("postcode", "")
        if not self._typed("postcode"):
            return value
        reason = uk_formats.postcode_invalid_reason(value)
        if reason:
            raise ValidationError(reason)
        return uk_formats.postcode_normalise(value)

    def _clean_phone(self, name: str, *, mobile: bool = False) -> str:
        value: str = self.cleaned_data.get(name, "").strip()
        if self._typed(name):
            reason = uk_formats.phone_invalid_reason(value, mobile=mobile)
            if reason:
                raise ValidationError(reason)
        return value

    def clean_phone_mobile(self) -> str:
        return self._clean_phone("phone_mobile", mobile=True)

    def clean_phone_home(self) -> str:
        return self._clean_phone("phone_home")

    def clean_phone_work(self) -> str:
        return self._clean_phone("phone_work")

    @classmethod
    def initial_for(cls, patient: Patient) -> dict[str, Any]:
        initial = {name: getattr(patient, name) for name in PATIENT_FIELDS}
        initial["nhs_number"] = patient.nhs_number_display
        return initial

    def patient_values(self) -> dict[str, Any]:
        """The cleaned values, keyed as the services take them."""
        return {name: self.cleaned_data[name] for name in PATIENT_FIELDS}


class PatientCreateForm(PatientDetailsForm):
    """Registration: the details plus the caseloads the patient starts on."""

    teams = forms.ModelMultipleChoiceField(
        queryset=Team.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        label="Teams",
        help_text="The patient is added to these teams' caseloads.",
    )

    submit_label = "Register patient"

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only teams where the user may write: a choice outside these is a field error.
        cast(forms.ModelMultipleChoiceField, self.fields["teams"]).queryset = teams

    def layout_parts(self) -> list[Any]:
        return [*super().layout_parts(), Fieldset("Caseload", "teams")]


def attach_errors(form: forms.Form, error: ValidationError, *, only_new: bool = False) -> None:
    """Put a service's ValidationError on the form: each message on the field it names, and
    anything the form has no field for at the top of the form. ``only_new``: leave a field
    the form has already refused as it is (one clear reason per field)."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        target = field if field in form.fields else None
        if field == NON_FIELD_ERRORS:
            target = None
        if only_new and target is not None and target in form.errors:
            continue
        form.add_error(target, errors)
