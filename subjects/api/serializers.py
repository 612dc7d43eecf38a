"""The shapes of the API: what goes in and what comes out. No rules here:
they live in ``subjects.review.actions``, ``subjects.dpo.selectors`` and
``subjects.api.crawler``."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from subjects.core.deadlines import EXTENSION_GROUNDS
from subjects.core.states import State
from subjects.dpo import selectors
from subjects.models import RightsRequest
from subjects.review import actions

KIND_CHOICES = RightsRequest.Kind.choices
TEXT = {"max_length": 4000}


class QueueQuerySerializer(serializers.Serializer):
    state = serializers.MultipleChoiceField(choices=State.choices, required=False,
                                            help_text="Only these states (repeat the parameter).")
    type = serializers.MultipleChoiceField(choices=KIND_CHOICES, required=False,
                                           help_text="Requests with any of these types.")
    language = serializers.MultipleChoiceField(choices=[], required=False)
    due = serializers.ChoiceField(choices=selectors.DUE_WINDOWS, required=False,
                                  help_text="overdue, week (due within 7 days), month, "
                                            "none (not filed).")
    q = serializers.CharField(required=False, max_length=40,
                              help_text="A reference or part of one, dashes optional.")
    include_unverified = serializers.BooleanField(required=False, default=False)
    ordering = serializers.ChoiceField(choices=list(selectors.SORTS), required=False,
                                       default=selectors.DEFAULT_SORT)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["language"].choices = [code for code, _name in settings.LANGUAGES]

    def filters(self) -> selectors.QueueFilters:
        data = self.validated_data
        return selectors.QueueFilters(
            states=sorted(data.get("state") or []),
            kinds=sorted(data.get("type") or []),
            languages=sorted(data.get("language") or []),
            due=data.get("due", ""),
            reference=data.get("q", ""),
            include_unverified=data.get("include_unverified", False),
            # The API lists every verified request unless filtered, as before.
            open_only=False,
            sort=data.get("ordering") or selectors.DEFAULT_SORT,
        )


class RequestSummarySerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    state_label = serializers.CharField(source="get_state_display")
    types = serializers.ListField(child=serializers.ChoiceField(choices=KIND_CHOICES),
                                  source="kinds")
    language = serializers.CharField()
    created_at = serializers.DateTimeField()
    received_at = serializers.DateTimeField(allow_null=True)
    due_on = serializers.DateField(source="due_date", allow_null=True)
    days_left = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    extension_months = serializers.IntegerField()
    closed_at = serializers.DateTimeField(allow_null=True)

    def _row(self, request) -> selectors.QueueRow:
        return selectors.QueueRow(request, self.context.get("today") or timezone.localdate())

    def get_days_left(self, request) -> int | None:
        return self._row(request).days_left

    def get_overdue(self, request) -> bool:
        return self._row(request).urgency == "overdue"

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.received_at is None:
            data["due_on"] = None
        return data


class MatchSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    distance = serializers.FloatField()
    tier = serializers.CharField()
    decision = serializers.CharField(help_text="mine, not_mine, or empty: not answered.")
    dpo_decision = serializers.CharField(
        help_text="For a claimed face of the possible tier: confirmed, declined, or empty: "
                  "not decided (it counts only once confirmed).")
    erased_at = serializers.DateTimeField(allow_null=True)
    crop_url = serializers.SerializerMethodField(
        help_text="The face crop on the dashboard (a DPO session opens it).")

    def get_crop_url(self, match) -> str | None:
        if match.face_id is None:
            return None
        return reverse("dpo:face_crop", args=[self.context["reference"], match.pk])


class TimelineEntrySerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=["event", "email"])
    action = serializers.CharField(help_text="The event's action, or the e-mail's kind.")
    actor = serializers.CharField(allow_blank=True)
    from_state = serializers.CharField(allow_blank=True)
    to_state = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    email_status = serializers.CharField(allow_blank=True)
    addressed_to = serializers.CharField(allow_blank=True,
                                         help_text="person, dpo or recipient (e-mails only).")

    def to_representation(self, entry):
        item = entry.item
        if entry.kind == "event":
            values = {"action": item.action, "actor": item.actor,
                      "from_state": item.from_state, "to_state": item.to_state,
                      "reason": item.reason, "email_status": "", "addressed_to": ""}
        else:
            values = {"action": item.kind, "actor": "", "from_state": "", "to_state": "",
                      "reason": "", "email_status": item.status,
                      "addressed_to": item.addressed_to}
        return {"at": serializers.DateTimeField().to_representation(entry.at),
                "kind": entry.kind, **values}


class JobSerializer(serializers.Serializer):
    kind = serializers.CharField()
    status = serializers.CharField()
    steps_done = serializers.ListField(child=serializers.CharField())
    attempts = serializers.IntegerField()
    last_error = serializers.CharField(allow_blank=True)


class RequestDetailSerializer(RequestSummarySerializer):
    verified_at = serializers.DateTimeField(allow_null=True)
    paused_since = serializers.DateTimeField(allow_null=True)
    paused_days = serializers.IntegerField()
    extension_reason = serializers.CharField(allow_blank=True)
    decision_reason = serializers.CharField(allow_blank=True)
    keep_template = serializers.BooleanField()
    searches_run = serializers.IntegerField()
    actions = serializers.SerializerMethodField(
        help_text="The actions this request offers now; each is POST .../{reference}/{action}.")
    matches = serializers.SerializerMethodField()
    timeline = serializers.SerializerMethodField()
    jobs = serializers.SerializerMethodField()

    def get_actions(self, request) -> list[str]:
        return [name.replace("_", "-") for name in actions.available_actions(request)
                if name in actions.API_ACTIONS]

    @extend_schema_field(MatchSerializer(many=True))
    def get_matches(self, request):
        return MatchSerializer(selectors.matches_of(request), many=True,
                               context={"reference": request.reference}).data

    @extend_schema_field(TimelineEntrySerializer(many=True))
    def get_timeline(self, request):
        return TimelineEntrySerializer(selectors.timeline(request), many=True).data

    @extend_schema_field(JobSerializer(many=True))
    def get_jobs(self, request):
        return JobSerializer(request.jobs.all(), many=True).data


class EmptySerializer(serializers.Serializer):
    pass


class ApproveSerializer(serializers.Serializer):
    """Empty: approve every right asked for. Or refuse some rights, each on a
    reason valid for that right (``access_refusal``, ``erasure_refusal``,
    ``objection_refusal``, with ``<right>_reason`` in the DPO's words)."""

    access_refusal = serializers.CharField(required=False, allow_blank=True, max_length=30)
    access_reason = serializers.CharField(required=False, allow_blank=True, **TEXT)
    erasure_refusal = serializers.CharField(required=False, allow_blank=True, max_length=30)
    erasure_reason = serializers.CharField(required=False, allow_blank=True, **TEXT)
    objection_refusal = serializers.CharField(required=False, allow_blank=True, max_length=30)
    objection_reason = serializers.CharField(required=False, allow_blank=True, **TEXT)


class RejectSerializer(serializers.Serializer):
    reason_template = serializers.ChoiceField(
        choices=list(actions.REJECTION_REASONS), required=False, allow_blank=True,
        help_text="A reason the person reads in their language; the free text follows it.")
    reason = serializers.CharField(required=False, allow_blank=True, **TEXT)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(**TEXT)


class ExtendSerializer(serializers.Serializer):
    months = serializers.ChoiceField(choices=[1, 2])
    reason = serializers.CharField(**TEXT)
    ground = serializers.ChoiceField(
        choices=list(EXTENSION_GROUNDS),
        help_text="Why (Art. 12(3)): the person is told it, and the public transparency "
                  "page counts it.")


class QuestionSerializer(serializers.Serializer):
    question = serializers.CharField(**TEXT)
    photo = serializers.BooleanField(required=False, default=False,
                                     help_text="The person may answer with a photo.")


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, **TEXT)


class ClaimsSerializer(serializers.Serializer):
    faces = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=1000,
        help_text="Ids of the matches (claimed faces of the possible tier) the DPO confirms "
                  "as the person's; the other claims are declined.")


ACTION_SERIALIZERS = {
    actions.CONFIRM_REQUESTER: EmptySerializer,
    actions.DECIDE_CLAIMS: ClaimsSerializer,
    actions.APPROVE: ApproveSerializer,
    actions.REJECT: RejectSerializer,
    actions.EXTEND: ExtendSerializer,
    actions.ASK_FOR_INFORMATION: QuestionSerializer,
    actions.INFORMATION_RECEIVED: NoteSerializer,
    actions.CLOSE_UNFOUNDED: ReasonSerializer,
    actions.RESUME: EmptySerializer,
    actions.SEARCH_AGAIN: EmptySerializer,
    actions.RENEW_LINKS: EmptySerializer,
}


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class WeekSerializer(serializers.Serializer):
    week = serializers.DateField()
    access = serializers.IntegerField()
    erasure = serializers.IntegerField()
    objection = serializers.IntegerField()


class MonthSerializer(serializers.Serializer):
    month = serializers.DateField()
    median_days = serializers.FloatField(allow_null=True)
    completed = serializers.IntegerField()


class CompletionSerializer(serializers.Serializer):
    median_days = serializers.FloatField(allow_null=True)
    completed = serializers.IntegerField()
    months = MonthSerializer(many=True)


class OpenPointSerializer(serializers.Serializer):
    day = serializers.DateField()
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()


class CountsSerializer(serializers.Serializer):
    by_state = serializers.DictField(child=serializers.IntegerField())
    open = serializers.IntegerField()
    overdue = serializers.IntegerField()
    due_soon = serializers.IntegerField()


class FiguresSerializer(serializers.Serializer):
    counts = CountsSerializer()
    per_week = WeekSerializer(many=True)
    completion = CompletionSerializer()
    open_overdue = OpenPointSerializer(many=True)


class StatusEventSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    action = serializers.CharField()


class RequestStatusSerializer(serializers.Serializer):
    reference = serializers.CharField()
    state = serializers.ChoiceField(choices=State.choices)
    state_label = serializers.CharField(source="get_state_display")
    types = serializers.ListField(child=serializers.CharField(), source="kinds")
    received_at = serializers.DateTimeField(allow_null=True)
    due_on = serializers.DateField(source="due_date", allow_null=True)
    extension_months = serializers.IntegerField()
    # No extension reason, nor any other text the DPO wrote: those reach
    # the person only by e-mail, to the verified address.
    closed_at = serializers.DateTimeField(allow_null=True)
    timeline = StatusEventSerializer(source="events.all", many=True)


class EmbeddingQuestionSerializer(serializers.Serializer):
    model = serializers.CharField(help_text="The face model that made the embedding: "
                                            "dlib (128 numbers) or insightface (512).")
    embedding = serializers.ListField(child=serializers.FloatField(), min_length=1,
                                      max_length=4096)


class ImageQuestionSerializer(serializers.Serializer):
    image = serializers.FileField(help_text="A photo (JPEG, PNG, WebP, HEIC).")
    model = serializers.CharField(required=False,
                                  help_text="The face model to embed with (default: the "
                                            "portal's).")


class FaceAnswerSerializer(serializers.Serializer):
    box = serializers.ListField(child=serializers.IntegerField(), min_length=4, max_length=4,
                                help_text="left, top, width, height in pixels")
    suppressed = serializers.BooleanField()


class SuppressionAnswerSerializer(serializers.Serializer):
    suppressed = serializers.BooleanField()
    model = serializers.CharField()
    faces = FaceAnswerSerializer(many=True, required=False,
                                 help_text="Each face found in an image (image questions only).")
