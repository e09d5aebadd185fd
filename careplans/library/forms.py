"""Forms of the resource library pages and of the patient's resources panel. Each carries its
crispy ``FormHelper``; the services do the checking that matters."""

from __future__ import annotations

from typing import Any, cast

from crispy_forms.bootstrap import StrictButton
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Layout
from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from careplans.followup import selectors
from careplans.library import services as library_services
from careplans.models import InformationPack, Milestone, Pathway, Resource
from rms.models import Team

# The element the panel's forms replace (see templates/careplans/library/patient_panel.html).
PANEL_ID = "library-panel"


def _helper(form: forms.Form, action: str, *fields: str, button: str, css: str) -> FormHelper:
    helper = FormHelper(form)
    helper.form_method = "post"
    helper.form_action = action
    helper.layout = Layout(*fields, StrictButton(button, type="submit", css_class=css))
    return helper


def _htmx(helper: FormHelper, action: str) -> None:
    helper.attrs = {"hx-post": action, "hx-target": f"#{PANEL_ID}", "hx-swap": "outerHTML"}


class ResourceForm(forms.Form):
    """Add or edit a library resource, with the pathways it is written for."""

    team = forms.ModelChoiceField(queryset=Team.objects.none(), empty_label=None)
    title = forms.CharField(max_length=library_services.TITLE_MAX)
    kind = forms.ChoiceField(choices=Resource.Kind.choices)
    url = forms.URLField(
        label="Web address",
        required=False,
        assume_scheme="https",
        help_text="For a web link or a video (https://…).",
    )
    file = forms.FileField(
        label="PDF leaflet",
        required=False,
        help_text="For a leaflet. Sent to the patient as a PDF document in their PKB record.",
    )
    description = forms.CharField(
        required=False,
        max_length=library_services.DESCRIPTION_MAX,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="What it is and who it is for, in words a patient reads.",
    )
    pathways = forms.ModelMultipleChoiceField(
        queryset=Pathway.objects.none(),
        required=False,
        to_field_name="code",
        label="Pathways",
        help_text="The follow-up pathways this resource is for.",
    )

    def __init__(
        self, *args: Any, action: str, teams: QuerySet[Team], button: str, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["team"]).queryset = teams
        cast(
            forms.ModelMultipleChoiceField, self.fields["pathways"]
        ).queryset = selectors.pathway_list()
        self.helper = _helper(
            self,
            action,
            "team",
            "title",
            "kind",
            "url",
            "file",
            "description",
            "pathways",
            button=button,
            css="btn-primary",
        )
        self.helper.form_class = "resource-form"
        self.helper.attrs = {"enctype": "multipart/form-data"}

    def resource_input(self) -> library_services.ResourceInput:
        """The resource as the library's services take it (call once the form is valid)."""
        data = self.cleaned_data
        return library_services.ResourceInput(
            title=data["title"],
            kind=data["kind"],
            url=data["url"] or "",
            description=data["description"],
            file=data["file"],
        )


class ApproveForm(forms.Form):
    review_date = forms.DateField(
        label="Review date",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text="By when the team must review it again (in the future). It is not shared "
        "with patients after this date until approved again.",
    )

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.helper = _helper(self, action, "review_date", button="Approve", css="btn-success")


class ShareResourceForm(forms.Form):
    resource = forms.ModelChoiceField(
        queryset=Resource.objects.none(),
        to_field_name="public_id",
        empty_label="Choose a resource",
        label="Resource",
    )

    def __init__(
        self,
        *args: Any,
        action: str,
        resources: QuerySet[Resource],
        offered: QuerySet[Resource],
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("auto_id", "share-resource-%s")
        super().__init__(*args, **kwargs)
        # The list offers the approved resources; any resource of the patient's teams is
        # accepted, so one posted anyway (a draft, a retired one) reaches the service and is
        # refused with its reason rather than as "not a valid choice".
        field = cast(forms.ModelChoiceField, self.fields["resource"])
        field.queryset = resources
        field.choices = [("", "Choose a resource")] + [
            (str(r.public_id), f"{r.title} ({r.get_kind_display()})") for r in offered
        ]
        self.helper = _helper(self, action, "resource", button="Share", css="btn-primary")
        _htmx(self.helper, action)


class SharePackForm(forms.Form):
    pack = forms.ModelChoiceField(
        queryset=InformationPack.objects.none(),
        to_field_name="public_id",
        empty_label="Choose an information pack",
        label="Information pack",
    )

    def __init__(
        self, *args: Any, action: str, packs: QuerySet[InformationPack], **kwargs: Any
    ) -> None:
        kwargs.setdefault("auto_id", "share-pack-%s")
        super().__init__(*args, **kwargs)
        # Offered: the packs with something that can be shared today; a retired leaflet or
        # one past its review date is left out of a pack, and a pack with nothing left is not
        # offered. Any active pack is accepted, so one posted anyway is refused with its reason.
        field = cast(forms.ModelChoiceField, self.fields["pack"])
        field.queryset = packs
        today = timezone.localdate()
        choices: list[tuple[str, str]] = [("", "Choose an information pack")]
        for pack in packs.prefetch_related("resources"):
            items = list(pack.resources.all())
            current = [r for r in items if library_services.share_refusal(r, today=today) is None]
            if not current:
                continue
            count = (
                f"{len(current)} item{'s' if len(current) != 1 else ''}"
                if len(current) == len(items)
                else f"{len(current)} of {len(items)} items current"
            )
            choices.append((str(pack.public_id), f"{pack.name} ({count})"))
        field.choices = choices
        self.helper = _helper(self, action, "pack", button="Share pack", css="btn-outline-primary")
        _htmx(self.helper, action)


class MilestoneForm(forms.Form):
    pathway = forms.ModelChoiceField(
        queryset=Pathway.objects.none(), to_field_name="code", empty_label="Choose a pathway"
    )
    milestone = forms.ChoiceField(choices=Milestone.choices)

    def __init__(self, *args: Any, action: str, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "milestone-%s")
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["pathway"]).queryset = selectors.pathway_list()
        self.helper = _helper(
            self,
            action,
            "pathway",
            "milestone",
            button="Record milestone",
            css="btn-outline-primary",
        )
        _htmx(self.helper, action)
