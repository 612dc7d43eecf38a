"""The REST API's views (``/api/v1``): DPO endpoints, the requester's
status, and the crawler's suppression check. Views only translate HTTP to
the plain functions of ``subjects.dpo.selectors``, ``subjects.review.actions``
and ``subjects.api.crawler``, and back."""

from __future__ import annotations

import re

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from subjects.api import crawler
from subjects.api.authentication import (
    ApiKeyAuthentication,
    CanAct,
    CrawlerThrottle,
    DpoThrottle,
    IsCrawler,
    IsDpo,
    StatusThrottle,
)
from subjects.api.serializers import (
    ACTION_SERIALIZERS,
    EmbeddingQuestionSerializer,
    ErrorSerializer,
    FiguresSerializer,
    ImageQuestionSerializer,
    QueueQuerySerializer,
    RequestDetailSerializer,
    RequestStatusSerializer,
    RequestSummarySerializer,
    SuppressionAnswerSerializer,
)
from subjects.core import tokens
from subjects.dpo import selectors
from subjects.dpo.models import ApiKey
from subjects.dpo.permissions import actor_name
from subjects.review import actions
from subjects.review.decisions import DecisionRefused

ACCESS_TOKEN = re.compile(r"^FR-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}\.[0-9a-f]{40}$")

ERRORS = {
    400: OpenApiResponse(ErrorSerializer, description="Bad input; the detail says what."),
    401: OpenApiResponse(ErrorSerializer, description="No valid credentials."),
    403: OpenApiResponse(ErrorSerializer, description="These credentials may not do this."),
    404: OpenApiResponse(ErrorSerializer, description="No such request."),
    409: OpenApiResponse(ErrorSerializer, description="The request's state does not allow "
                                                      "this now."),
    429: OpenApiResponse(ErrorSerializer, description="Too many calls; wait and retry."),
}


def errors(*codes: int) -> dict:
    return {code: ERRORS[code] for code in codes}


def request_or_404(reference: str):
    found = selectors.request_for_dpo(reference)
    if found is None:
        raise NotFound(_("There is no request with this reference."))
    return found


class DpoApiView(GenericAPIView):
    authentication_classes = [ApiKeyAuthentication, SessionAuthentication]
    permission_classes = [IsDpo]
    throttle_classes = [DpoThrottle]

    def actor(self) -> str:
        name = actor_name(self.request.user)
        if isinstance(self.request.auth, ApiKey):
            return f"{name} (API key {self.request.auth.prefix})"
        return name


class RequestPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


@extend_schema(tags=["DPO"])
class RequestList(DpoApiView):
    serializer_class = RequestSummarySerializer
    pagination_class = RequestPagination

    @extend_schema(
        summary="The queue: requests, filtered and sorted",
        parameters=[QueueQuerySerializer],
        responses={200: RequestSummarySerializer(many=True), **errors(400, 401, 403, 404, 429)},
    )
    def get(self, request):
        query = QueueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = timezone.localdate()
        page = self.paginate_queryset(selectors.queue(query.filters(), today=today))
        data = RequestSummarySerializer(page, many=True, context={"today": today}).data
        return self.get_paginated_response(data)


@extend_schema(tags=["DPO"])
class RequestDetail(DpoApiView):
    serializer_class = RequestDetailSerializer

    @extend_schema(summary="One request: matches, timeline, jobs and the actions it offers",
                   responses={200: RequestDetailSerializer, **errors(401, 403, 404, 429)})
    def get(self, request, reference):
        return Response(RequestDetailSerializer(request_or_404(reference)).data)


class RequestAction(DpoApiView):
    """POST one action; answers with the request as it is afterwards."""

    permission_classes = [CanAct]
    action_name = ""

    def post(self, request, reference):
        if self.action_name in actions.DASHBOARD_ONLY:
            raise PermissionDenied(_("Only the dashboard can confirm a requester: it shows the "
                                     "photo beside the matches, which the API does not."))
        rights_request = request_or_404(reference)
        serializer = ACTION_SERIALIZERS[self.action_name](data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            actions.perform(rights_request, self.action_name, actor=self.actor(),
                            data=serializer.validated_data)
        except DecisionRefused as refused:
            return Response({"detail": str(refused.message)}, status=refused.status)
        return Response(RequestDetailSerializer(request_or_404(reference)).data)


def action_view(name: str):
    """The view of one action, with its own input in the schema."""
    view = type(f"{name.title().replace('_', '')}Action", (RequestAction,),
                {"action_name": name, "serializer_class": ACTION_SERIALIZERS[name]})
    return extend_schema_view(post=extend_schema(
        tags=["DPO"],
        operation_id=f"request_{name}",
        summary=str(actions.LABELS[name]),
        request=ACTION_SERIALIZERS[name],
        responses={200: RequestDetailSerializer, **errors(400, 401, 403, 404, 409, 429)},
    ))(view).as_view()


@extend_schema(tags=["DPO"])
class Figures(DpoApiView):
    serializer_class = FiguresSerializer

    @extend_schema(summary="Figures: per week, time to completion, open and overdue",
                   responses={200: FiguresSerializer, **errors(401, 403, 429)})
    def get(self, request):
        return Response(FiguresSerializer(selectors.figures()).data)


@extend_schema(tags=["Requester"])
class RequestStatus(APIView):
    """The requester's own view of their request, opened by the access
    token from their e-mails (the same that opens their status page) and,
    like that page, only in the browser that confirmed the address (its
    binding cookie): a token copied elsewhere reads nothing. It says what
    the status page says, without any text written by the DPO."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [StatusThrottle]

    @extend_schema(
        summary="Status of one's own request",
        description="Called from the browser where the request's e-mail address was confirmed: "
                    "that browser's cookie for the request must come with the call.",
        parameters=[OpenApiParameter(
            "X-Access-Token", OpenApiTypes.STR, OpenApiParameter.HEADER, required=True,
            description="The access token of the request (the last part of the status link "
                        "in its e-mails: FR-XXXX-XXXX-XXXX.<40 hex digits>).")],
        responses={200: RequestStatusSerializer, **errors(403, 404, 429)},
    )
    def get(self, request, reference):
        token = request.headers.get("X-Access-Token", "").strip()
        found = tokens.request_for_access(token) if ACCESS_TOKEN.match(token) else None
        if found is None or found.reference != reference.strip().upper():
            # One answer for every wrong guess: nothing tells which part was wrong.
            raise NotFound(_("There is no request with this reference and token."))
        if not tokens.is_bound_browser(request, found):
            raise PermissionDenied(_("The status of a request can be read only in the browser "
                                     "where its e-mail address was confirmed."))
        return Response(RequestStatusSerializer(found).data)


@extend_schema(tags=["Crawler"])
class SuppressionCheck(APIView):
    """Whether a face is on the suppression list; the crawler asks before
    it stores any face."""

    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsCrawler]
    throttle_classes = [CrawlerThrottle]
    parser_classes = [JSONParser, MultiPartParser]

    @extend_schema(
        summary="Is this face suppressed?",
        description="Send an embedding made by one of the portal's face models (JSON), or an "
                    "image (multipart form): the answer is whether the face, or any face of "
                    "the image, belongs to someone who must not be collected again.",
        request={"application/json": EmbeddingQuestionSerializer,
                 "multipart/form-data": ImageQuestionSerializer},
        responses={200: SuppressionAnswerSerializer, **errors(400, 401, 403, 429),
                   413: OpenApiResponse(ErrorSerializer, description="The body is too large."),
                   415: OpenApiResponse(ErrorSerializer, description="Send JSON or a form."),
                   503: OpenApiResponse(ErrorSerializer,
                                        description="The face model is not installed.")},
    )
    def post(self, request):
        content_type = request.META.get("CONTENT_TYPE", "")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = crawler.max_body_bytes(content_type)
        if length > limit:
            return Response(
                {"detail": str(_("The body is larger than %(kb)d KB; send one embedding or "
                                 "one image per call.") % {"kb": limit // 1024})},
                status=413)
        data = request.data
        try:
            if "image" in request.FILES:
                upload = request.FILES["image"]
                answer = crawler.check_image(upload.read(crawler.max_image_bytes() + 1),
                                             model=data.get("model"))
            elif isinstance(data, dict) and "embedding" in data:
                answer = crawler.check_embedding(data.get("model"), data.get("embedding"))
            else:
                raise crawler.BadQuestion(_(
                    "Send a JSON object with “model” and “embedding” (a list of numbers), "
                    "or a multipart form with an “image” file."))
        except crawler.BadQuestion as bad:
            return Response({"detail": str(bad.message)}, status=bad.status)
        return Response(answer)


class Schema(SpectacularAPIView):
    authentication_classes = []
    permission_classes = [AllowAny]


class Docs(SpectacularSwaggerSplitView):
    """Swagger UI from this site's static files, its script in a file of
    its own: no CDN, no inline script."""

    authentication_classes = []
    permission_classes = [AllowAny]
    template_name = "dpo/swagger_ui.html"
    url_name = "api-schema"

