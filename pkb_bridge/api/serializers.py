"""Input and output shapes of the PKB enrolment endpoint. Nothing here saves."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from pkb_bridge.models import Enrolment


class EnrolmentOutputSerializer(serializers.ModelSerializer[Enrolment]):
    team: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="code", read_only=True, help_text="Code of the team the messages are sent as."
    )
    opted_in_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Username of who shared the patient."
    )
    withdrawn_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    status = serializers.ChoiceField(choices=Enrolment.Status.choices, read_only=True)
    consent_record: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="public_id",
        read_only=True,
        allow_null=True,
        help_text="The consent record sharing rests on (null: the attestation does).",
    )
    invitation = serializers.ChoiceField(
        choices=Enrolment.Invitation.choices,
        read_only=True,
        help_text="Where the patient's invitation email is.",
    )

    class Meta:
        model = Enrolment
        ref_name = "PkbEnrolment"
        fields = (
            "public_id",
            "status",
            "team",
            "opted_in_at",
            "opted_in_by",
            "registered_at",
            "invitation",
            "invitation_sent_at",
            "withdrawn_at",
            "withdrawn_by",
            "withdrawal_reason",
            "consent_record",
            "consent_attestation",
            "held_breach_evidence",
        )
        read_only_fields = fields


class EnrolmentCreateInputSerializer(serializers.Serializer[Any]):
    team = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Code of the team to share as (one of the patient's teams where you may "
        "write); by default the first of them by name.",
    )
    attestation = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="How and when the patient consented to sharing with PKB, in your words, when "
        "no consent record of the RMS covers it (kept with the enrolment, with your name and "
        "the time). Ignored when a consent record does.",
    )
    hold_breach_evidence = serializers.BooleanField(
        required=False,
        default=True,
        help_text="Hold the results that are the evidence of an open threshold-breach work "
        "item until a clinician releases them (default true).",
    )

    class Meta:
        ref_name = "PkbEnrolmentCreateInput"


class EnrolmentWithdrawInputSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=2000, help_text="Why sharing stops."
    )

    class Meta:
        ref_name = "PkbEnrolmentWithdrawInput"


class OptInPreviewOutputSerializer(serializers.Serializer[Any]):
    """What an opt-in would send and hold now (``pkb_bridge.services.OptInPreview``)."""

    class CategorySerializer(serializers.Serializer[Any]):
        category = serializers.CharField(help_text="lab, radiology, document or appointment")
        published = serializers.IntegerField(help_text="Published at once.")
        delayed = serializers.IntegerField(help_text="Published, content shown after a delay.")
        delay_days = serializers.IntegerField()
        held = serializers.IntegerField(help_text="Held by the team's policy.")
        auto_release_days = serializers.IntegerField(allow_null=True)
        held_for_breach = serializers.IntegerField(
            help_text="Results held as the evidence of an open threshold breach (by default)."
        )

        class Meta:
            ref_name = "PkbOptInPreviewCategory"

    class BreachSerializer(serializers.Serializer[Any]):
        public_id = serializers.UUIDField()
        title = serializers.CharField()
        priority = serializers.IntegerField()
        status = serializers.CharField()
        created_at = serializers.DateTimeField()

        class Meta:
            ref_name = "PkbOptInPreviewBreach"

    team = serializers.CharField(source="team.code", help_text="The team it would share as.")
    nhs_number_refusal = serializers.CharField(
        allow_null=True, help_text="Why the NHS number cannot be shared, or null."
    )
    consent_record = serializers.UUIDField(
        source="consent.public_id",
        allow_null=True,
        help_text="The consent record sharing would rest on, or null.",
    )
    consent_problem = serializers.CharField(
        allow_null=True,
        help_text="Why the recorded consent does not allow sharing (none recorded: an "
        "`attestation` is needed; declined or withdrawn: record the new consent first).",
    )
    attestation_allowed = serializers.BooleanField(
        help_text="No consent record about sharing with PKB exists: an attestation may stand "
        "for it."
    )
    total = serializers.IntegerField(help_text="Items of the record an opt-in would cover.")
    categories = CategorySerializer(many=True)
    breaches = BreachSerializer(many=True)
    breach_evidence = serializers.IntegerField(
        help_text="Results that are the evidence of the open breaches."
    )

    class Meta:
        ref_name = "PkbOptInPreview"
