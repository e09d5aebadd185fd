"""Django admin of the core record, for administrators.

Scope: a superuser sees everything. Any other staff user sees only what their teams see:
the patients on their teams' open caseloads (``selectors.patient_list``), those patients'
records, and their own teams and memberships. Django's model permissions still decide what
such a user may do; the scope decides which rows they may do it to.

Writes: patient and diagnosis changes go through the services, so the same validation runs
and the same signals reach the other apps (PKB bridge, worklists). Results, observations,
appointments and documents arrive from the Trust's feeds and have no services for editing
yet, so they are view-only here: an edit in admin would not reach PKB. The access log is
view-only for everyone. Opening one record in admin is written to the access log (channel
"admin"), as the clinician pages do.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import BaseInlineFormSet
from django.http import HttpRequest

from rms import access, nhs_number, selectors, services
from rms.models import (
    AccessEvent,
    Appointment,
    CaseloadEntry,
    Diagnosis,
    Document,
    Membership,
    Observation,
    Patient,
    Result,
    Team,
)

# Not public yet: the validation patient_create/patient_update run, needed before a save.
from rms.services import patient_validate as validate_patient


def sees_everything(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_active and user.is_superuser)


def scoped_patients(request: HttpRequest) -> QuerySet[Patient]:
    return selectors.patient_list(user=request.user).order_by()


def _scoped_teams(request: HttpRequest) -> QuerySet[Team]:
    return selectors.team_list(user=request.user)


def admin_user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


class TeamScopedAdmin(admin.ModelAdmin):
    """Rows reached through a team (``team_path``), limited to the user's teams."""

    team_path = "team"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if sees_everything(request):
            return queryset
        return queryset.filter(**{f"{self.team_path}__in": _scoped_teams(request)})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        # Without this, the team drop-down would offer (and accept) every team.
        if db_field.related_model is Team and not sees_everything(request):
            kwargs["queryset"] = _scoped_teams(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PatientScopedAdmin(admin.ModelAdmin):
    """Rows of one patient's record, limited to the patients the user's teams see.

    Opening one row is an access to that patient's record and is logged as ``access_action``.
    """

    patient_path = "patient"
    access_action = "record"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        if sees_everything(request):
            return queryset
        return queryset.filter(**{f"{self.patient_path}__in": scoped_patients(request)})

    def patient_of(self, obj: Any) -> Patient | None:
        """Whose record ``obj`` belongs to, for the access log (None: nothing to log)."""
        patient: Patient | None = getattr(obj, self.patient_path)
        return patient

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        obj = super().get_object(request, object_id, from_field)
        user = admin_user(request)
        patient = self.patient_of(obj) if obj is not None else None
        if patient is not None and user is not None:
            services.access_event_record(
                user=user,
                patient=patient,
                action=self.access_action,
                channel="admin",
                ip_address=access.client_ip(request),
            )
        return obj

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        if not sees_everything(request):
            if db_field.related_model is Patient:
                kwargs["queryset"] = scoped_patients(request)
            elif db_field.related_model is Team:
                kwargs["queryset"] = _scoped_teams(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ViewOnlyMixin:
    """Nobody adds, changes or deletes these here, superusers included."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


# ---------------------------------------------------------------------------
# Teams
# ---------------------------------------------------------------------------
class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)


@admin.register(Team)
class TeamAdmin(TeamScopedAdmin):
    team_path = "id"
    list_display = (
        "name",
        "code",
        "tumour_site",
        "pkb_team_alias",
        "pv1_service_code",
        "review_radiology_reports",
    )
    list_filter = ("tumour_site", "review_radiology_reports")
    search_fields = ("name", "code")
    readonly_fields = ("public_id", "created_at")
    inlines = (MembershipInline,)

    # A team is created or removed by a superuser: a staff user could not see a new team of
    # theirs (they are not a member of it yet), and removing one strands its patients.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return sees_everything(request) and super().has_delete_permission(request, obj)


@admin.register(Membership)
class MembershipAdmin(TeamScopedAdmin):
    list_display = ("user", "team", "role", "created_at")
    list_filter = ("role", "team")
    search_fields = ("user__username", "user__first_name", "user__last_name", "team__code")
    list_select_related = ("user", "team")
    readonly_fields = ("created_at",)


# ---------------------------------------------------------------------------
# Patients
# ---------------------------------------------------------------------------
class CaseloadEntryInline(admin.TabularInline):
    model = CaseloadEntry
    fk_name = "patient"
    extra = 0
    fields = ("team", "started_on", "ended_on", "added_by", "created_at")
    readonly_fields = ("added_by", "created_at")
    # Entries are history: a patient leaves a caseload by an end date, not by deletion.
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request).select_related("team", "added_by")
        if sees_everything(request):
            return queryset
        # Other teams' entries are theirs to change, not this user's.
        return queryset.filter(team__in=_scoped_teams(request))

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> forms.ModelChoiceField | None:
        if db_field.related_model is Team and not sees_everything(request):
            kwargs["queryset"] = _scoped_teams(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class PatientAdminForm(forms.ModelForm):
    # Wider than the stored ten digits so that 943 476 5919 can be typed as people write it.
    nhs_number = forms.CharField(label="NHS number", max_length=20, required=False)

    class Meta:
        model = Patient
        fields = services.PATIENT_FIELDS

    def clean_nhs_number(self) -> str | None:
        return nhs_number.normalise(self.cleaned_data.get("nhs_number") or "") or None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        # The record's own rules too (a verified status needs a number, no birth in the
        # future, no duplicate identifier), so a refusal shows on the form, not as a server
        # error when the service refuses the save.
        # A read-only field (the NHS number status) is not in the form: keep the stored value.
        candidate = Patient(
            pk=self.instance.pk,
            **{
                name: cleaned[name] if name in self.fields else getattr(self.instance, name)
                for name in services.PATIENT_FIELDS
            },
        )
        try:
            validate_patient(candidate)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, messages)
        return cleaned


@admin.register(Patient)
class PatientAdmin(PatientScopedAdmin):
    form = PatientAdminForm
    patient_path = "pk"
    list_display = ("name", "nhs_number_3_3_4", "mrn", "date_of_birth")
    list_per_page = 50
    search_fields = ("nhs_number", "mrn", "given_name", "family_name")
    search_help_text = "NHS number (spaces are fine), MRN, given name or family name."
    # The NHS number status is changed by a team admin with a reason (the patient page), or
    # by the PAS feed; never silently here.
    readonly_fields = ("public_id", "nhs_number_status", "created_at", "updated_at")
    fieldsets = (
        ("Identifiers", {"fields": ("nhs_number", "nhs_number_status", "mrn", "public_id")}),
        (
            "Name and birth",
            {"fields": ("title", "given_name", "family_name", "date_of_birth", "sex")},
        ),
        (
            "Address",
            {
                "fields": (
                    "address_line_1",
                    "address_line_2",
                    "address_city",
                    "address_county",
                    "postcode",
                )
            },
        ),
        ("Contact", {"fields": ("phone_mobile", "phone_home", "phone_work", "email")}),
        ("Record", {"fields": ("created_at", "updated_at")}),
    )
    inlines = (CaseloadEntryInline,)

    def patient_of(self, obj: Any) -> Patient | None:
        patient: Patient = obj
        return patient

    @admin.display(description="Name", ordering="family_name")
    def name(self, obj: Patient) -> str:
        return f"{obj.family_name.upper()}, {obj.given_name}"

    @admin.display(description="NHS number", ordering="nhs_number")
    def nhs_number_3_3_4(self, obj: Patient) -> str:
        return obj.nhs_number_display

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        # "943 476 5919" is one NHS number, not three words to match separately.
        digits = nhs_number.normalise(search_term)
        if digits.isdigit():
            search_term = digits
        return super().get_search_results(request, queryset, search_term)

    # Registering normally happens in the clinician pages (services.patient_create, with the
    # teams chosen). Here only a superuser may add one, through the ORM form; the caseload
    # inline puts them on teams. Deleting is for superusers too (the access log protects
    # any patient whose record was opened).
    def has_add_permission(self, request: HttpRequest) -> bool:
        return sees_everything(request) and super().has_add_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return sees_everything(request) and super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        user = admin_user(request)
        if not change or user is None:
            super().save_model(request, obj, form, change)
            return
        changed = [name for name in form.changed_data if name in services.PATIENT_FIELDS]
        if not changed:
            return
        values = {name: getattr(obj, name) for name in changed}
        # The form has already copied its values onto obj; patient_update compares against
        # what is stored to find what really changed, so put the stored values back first.
        obj.refresh_from_db(fields=changed)
        services.patient_update(patient=obj, actor=user, **values)

    def save_formset(
        self,
        request: HttpRequest,
        form: Any,
        formset: BaseInlineFormSet[Any, Any, Any],
        change: bool,
    ) -> None:
        if formset.model is not CaseloadEntry:
            super().save_formset(request, form, formset, change)
            return
        for entry in formset.save(commit=False):
            if entry.pk is None:
                entry.added_by = admin_user(request)
            entry.save()


@admin.register(Diagnosis)
class DiagnosisAdmin(PatientScopedAdmin):
    access_action = "diagnosis"
    list_display = ("text", "code_system", "code", "diagnosed_on", "stage", "status")
    list_filter = ("status", "code_system", "tumour_site")
    readonly_fields = ("public_id", "created_at", "updated_at")
    raw_id_fields = ("patient",)

    # Entered-in-error is a status, not a deletion: PKB is sent the patient's whole set.
    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        # A diagnosis stays with the patient it was recorded for.
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "patient") if obj is not None else readonly

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        user = admin_user(request)
        if user is None:  # pragma: no cover - admin pages need a logged-in staff user
            return
        if change:
            values = {name: getattr(obj, name) for name in form.changed_data}
            if values:
                # As for patients: let the service compare against what is stored.
                obj.refresh_from_db(fields=list(values))
                services.diagnosis_update(diagnosis=obj, actor=user, **values)
            return
        created = services.diagnosis_create(
            patient=obj.patient, actor=user, **_model_values(obj, exclude={"patient"})
        )
        # The admin goes on to log and redirect using obj; make it the row just created.
        obj.pk = created.pk
        obj.public_id = created.public_id
        obj.created_at = created.created_at
        obj.updated_at = created.updated_at
        obj._state.adding = False
        obj._state.db = created._state.db


def _model_values(obj: Model, *, exclude: set[str]) -> dict[str, Any]:
    """The editable field values of an unsaved instance, for passing to a create service."""
    return {
        field.name: getattr(obj, field.name)
        for field in obj._meta.concrete_fields
        if field.editable and not field.primary_key and field.name not in exclude
    }


# ---------------------------------------------------------------------------
# Results, appointments, documents: from the feeds, view-only here
# ---------------------------------------------------------------------------
class ObservationInline(ViewOnlyMixin, admin.TabularInline):
    model = Observation
    extra = 0
    fields = (
        "sequence",
        "code",
        "name",
        "value_type",
        "comparator",
        "value_text",
        "units",
        "reference_range",
        "abnormal_flag",
        "status",
        "result_version",
        "superseded_at",
    )


@admin.register(Result)
class ResultAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "result"
    list_display = ("__str__", "category", "source_system", "observed_at", "status")
    list_filter = ("category", "status", "source_system")
    date_hierarchy = "observed_at"
    inlines = (ObservationInline,)


@admin.register(Appointment)
class AppointmentAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "appointment"
    list_display = ("__str__", "starts_at", "appointment_type", "location", "status")
    list_filter = ("status",)
    date_hierarchy = "starts_at"


@admin.register(Document)
class DocumentAdmin(ViewOnlyMixin, PatientScopedAdmin):
    access_action = "document"
    list_display = ("title", "document_type", "content_type", "authored_at", "status")
    list_filter = ("document_type", "content_type", "status")
    date_hierarchy = "authored_at"
    # The PDF bytes are neither shown nor loaded: they are read in the clinician pages.
    exclude = ("content_pdf",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        return super().get_queryset(request).defer("content_pdf")


# ---------------------------------------------------------------------------
# The access log
# ---------------------------------------------------------------------------
@admin.register(AccessEvent)
class AccessEventAdmin(ViewOnlyMixin, PatientScopedAdmin):
    list_display = ("at", "user", "patient", "action", "channel", "outcome", "ip_address")
    list_filter = ("outcome", "channel", "action")
    search_fields = ("user__username",)
    date_hierarchy = "at"
    list_select_related = ("user", "patient")

    def patient_of(self, obj: Any) -> Patient | None:
        # Reading the log is not a read of the patient's record: not logged itself.
        return None
