"""The citizen's pages. Every page after step 1 is opened by the request's
own access token; any other token gets a plain 404."""

from __future__ import annotations

from functools import wraps

from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.ratelimit import RateLimited, client_ip
from subjects.core import audit, faces, tokens
from subjects.core.states import State, TransitionNotAllowed
from subjects.models import Match
from subjects.person import abuse, filing, intake, liveness
from subjects.person import selfie as selfie_jobs
from subjects.web.forms import SelfieForm, StartForm
from subjects.web.responses import package_download, private_jpeg

LANGUAGE_COOKIE = "django_language"


def with_request(view):
    """Resolve the access token in the URL into the request, or 404."""

    @wraps(view)
    @never_cache
    def wrapper(http_request, token, *args, **kwargs):
        rights_request = tokens.request_for_access(token)
        if rights_request is None:
            raise Http404
        return view(http_request, rights_request, token, *args, **kwargs)

    return wrapper


@require_http_methods(["GET", "POST"])
def start(request):
    form = StartForm(request.POST if request.method == "POST" else None,
                     initial={"language": translation.get_language()})
    if request.method == "POST" and form.is_valid():
        try:
            abuse.check_verification_allowed(ip=client_ip(request),
                                             email=form.cleaned_data["email"])
        except RateLimited as limited:
            return too_many(request, limited)
        intake.start_request(email=form.cleaned_data["email"],
                             language=form.cleaned_data["language"])
        response = redirect("subjects:start_sent")
        response.set_cookie(LANGUAGE_COOKIE, form.cleaned_data["language"], samesite="Lax")
        return response
    return render(request, "subjects/start.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


@require_GET
def start_sent(request):
    return render(request, "subjects/start_sent.html")


@never_cache
@require_GET
def verify(request, token):
    try:
        rights_request = intake.verify_email(token)
    except tokens.LinkProblem as problem:
        status = {"invalid": 404, "expired": 410, "used": 410}[problem.code]
        return render(request, "subjects/link_problem.html", {"problem": problem.code},
                      status=status)
    # The next page speaks the language chosen at step 1, in any browser.
    response = redirect("subjects:selfie", tokens.access_token(rights_request))
    response.set_cookie(LANGUAGE_COOKIE, rights_request.language, samesite="Lax")
    return response


@with_request
@require_GET
def request_home(request, rights_request, token):
    if rights_request.state == State.VERIFIED:
        return redirect("subjects:selfie", token)
    if rights_request.state in (State.SEARCHING, State.IDENTITY_REVIEW, State.MATCHES_READY):
        return redirect("subjects:matches", token)
    return redirect("subjects:status", token)


def too_many(request, limited: RateLimited):
    response = render(request, "subjects/limited.html", {"message": limited.message}, status=429)
    response["Retry-After"] = str(limited.retry_after)
    return response


def takes_selfie(view):
    """Only while the request takes a selfie (else back to its home page),
    and a posted one only within the abuse limits (else 429)."""

    @wraps(view)
    def wrapper(request, rights_request, token):
        if rights_request.state not in (State.VERIFIED, State.MATCHES_READY):
            return redirect("subjects:home", token)
        if request.method == "POST":
            try:
                abuse.check_selfie_allowed(ip=client_ip(request), request=rights_request)
            except RateLimited as limited:
                return too_many(request, limited)
        return view(request, rights_request, token)

    return wrapper


@with_request
@require_http_methods(["GET", "POST"])
@takes_selfie
def selfie(request, rights_request, token):
    form = SelfieForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            data = selfie_jobs.read_upload(form.cleaned_data["photo"])
            selfie_jobs.submit_selfie(rights_request, data, live=False)
        except selfie_jobs.SelfieRejected as rejected:
            error = rejected.message
        else:
            return redirect("subjects:matches", token)
    status = 400 if request.method == "POST" else 200
    return render(request, "subjects/selfie.html",
                  {"form": form, "error": error, "token": token, "rights_request": rights_request},
                  status=status)


@with_request
@require_http_methods(["GET", "POST"])
@takes_selfie
def live(request, rights_request, token):
    """The camera check: poses asked by a signed challenge, one frame each."""
    error = None
    if request.method == "POST":
        frames = []
        try:
            for number in range(len(liveness.POSES)):
                upload = request.FILES.get(f"frame_{number}")
                frames.append(selfie_jobs.read_upload(upload) if upload else b"")
            straight = liveness.verify_live_capture(
                rights_request, request.POST.get("challenge", ""), frames)
            selfie_jobs.submit_selfie(rights_request, straight, live=True)
        except (liveness.LivenessFailed, selfie_jobs.SelfieRejected) as failure:
            error = failure.message
        else:
            return redirect("subjects:matches", token)
    challenge, challenge_token = liveness.issue_challenge(rights_request)
    poses = [{"name": pose, "label": liveness.POSE_LABELS[pose]} for pose in challenge.poses]
    return render(request, "subjects/live.html",
                  {"token": token, "rights_request": rights_request, "error": error,
                   "challenge": challenge_token, "poses": poses},
                  status=400 if error else 200)


@with_request
@require_GET
def matches(request, rights_request, token):
    if rights_request.state == State.SEARCHING:
        return render(request, "subjects/searching.html",
                      {"token": token, "rights_request": rights_request})
    if rights_request.state == State.IDENTITY_REVIEW:
        return render(request, "subjects/identity_review.html",
                      {"token": token, "rights_request": rights_request})
    if rights_request.state != State.MATCHES_READY:
        return redirect("subjects:home", token)
    return render(request, "subjects/matches.html", matches_context(rights_request, token))


def matches_context(rights_request, token, **extra):
    groups = faces.matches_by_photo(rights_request)
    return {
        "token": token,
        "rights_request": rights_request,
        "groups": groups,
        "match_count": sum(len(group) for group in groups),
        "Decision": Match.Decision,
        **extra,
    }


@with_request
@require_GET
def progress(request, rights_request, token):
    return JsonResponse({"state": rights_request.state,
                         "next": reverse("subjects:home", args=[token])})


@with_request
@require_GET
def face_crop(request, rights_request, token, match_id):
    # Matches are seen only while the person confirms them, never while
    # the DPO has yet to check that an uploaded selfie is theirs.
    if rights_request.state != State.MATCHES_READY:
        raise Http404
    return private_jpeg(faces.crop_of_match(rights_request, match_id))


@with_request
@require_POST
def file(request, rights_request, token):
    decisions = {}
    for key, value in request.POST.items():
        if key.startswith("decision_") and value:
            try:
                decisions[int(key.removeprefix("decision_"))] = value
            except ValueError:
                continue
    try:
        filing.file_request(
            rights_request,
            kinds=request.POST.getlist("kinds"),
            keep_template=request.POST.get("keep_template", ""),
            decisions=decisions,
        )
    except filing.FilingRefused as refused:
        if rights_request.state != State.MATCHES_READY:
            return render(request, "subjects/status.html",
                          status_context(rights_request, token, error=refused.message),
                          status=refused.status)
        context = matches_context(rights_request, token, error=refused.message,
                                  posted=request.POST)
        return render(request, "subjects/matches.html", context, status=refused.status)
    return redirect("subjects:status", token)


def status_context(rights_request, token, **extra):
    return {
        "token": token,
        "rights_request": rights_request,
        "events": rights_request.events.order_by("pk"),
        "confirmed": rights_request.matches.filter(decision=Match.Decision.MINE).count(),
        **extra,
    }


@with_request
@require_GET
def status(request, rights_request, token):
    if rights_request.before_filing and rights_request.state != State.UNVERIFIED:
        return redirect("subjects:home", token)
    return render(request, "subjects/status.html", status_context(rights_request, token))


@with_request
@require_POST
def withdraw(request, rights_request, token):
    try:
        filing.withdraw_request(rights_request)
    except TransitionNotAllowed:
        return render(request, "subjects/status.html",
                      status_context(rights_request, token,
                                     error=_("This request can no longer be withdrawn.")),
                      status=409)
    return redirect("subjects:status", token)


@never_cache
@require_GET
def download_package(request, token):
    """The access package, by its signed link (valid 7 days); audited."""
    package = tokens.package_for_download(token)
    if package is None:
        return render(request, "subjects/link_problem.html", {"problem": "package"}, status=404)
    return package_download(package, actor=audit.REQUESTER)
