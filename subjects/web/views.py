"""The citizen's pages. Every page after step 1 is opened by the request's
own access token, in a browser that confirmed the request's address (a
signed cookie, ``subjects.core.tokens``): any other token gets a plain 404,
another browser only the offer of a new confirmation link, and a closed
request's pages nothing but its status."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from portal.ratelimit import RateLimited, client_ip
from subjects.core import audit, faces, tokens
from subjects.core.states import State, TransitionNotAllowed
from subjects.jobs.erasure import template_kept, withdraw_template_consent
from subjects.models import Match
from subjects.person import abuse, camera_check, filing, intake
from subjects.person import selfie as selfie_jobs
from subjects.web import transparency
from subjects.web.forms import AnswerForm, SelfieForm, StartForm
from subjects.web.responses import package_download, private_jpeg

LANGUAGE_COOKIE = "django_language"


def with_request(view=None, *, once_closed: bool = False):
    """Resolve the access token in the URL into the request, or 404; in a
    browser that has not confirmed the address, offer a new link to it and
    nothing else; once the request is closed, only the pages marked
    ``once_closed`` (the status page) open."""

    def decorate(view):
        @wraps(view)
        @never_cache
        def wrapper(http_request, token, *args, **kwargs):
            rights_request = tokens.request_for_access(token)
            if rights_request is None:
                raise Http404
            if rights_request.is_final and not once_closed:
                return render(http_request, "subjects/closed.html", {"token": token},
                              status=410)
            if not tokens.is_bound_browser(http_request, rights_request):
                send_url = (reverse("subjects:confirm_browser", args=[token])
                            if rights_request.email else None)
                return render(http_request, "subjects/confirm_browser.html",
                              {"send_url": send_url}, status=403)
            return view(http_request, rights_request, token, *args, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


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
        # One answer whether or not a link is pending, so the form tells
        # nobody that an address uses the portal: a pending link is sent
        # again (it goes on with the same request), else a request starts.
        pending = intake.pending_request(form.cleaned_data["email"])
        if pending is None:
            intake.start_request(email=form.cleaned_data["email"],
                                 language=form.cleaned_data["language"])
        else:
            intake.send_new_link(pending)
        response = redirect("subjects:start_sent")
        response.set_cookie(LANGUAGE_COOKIE, form.cleaned_data["language"], samesite="Lax")
        return response
    return render(request, "subjects/start.html", {"form": form},
                  status=400 if request.method == "POST" else 200)


@require_GET
def start_sent(request):
    return render(request, "subjects/start_sent.html")


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request, token):
    """The e-mailed confirmation link: the page asks for a press of a
    button, so that a mail scanner that follows links does not use it up."""
    try:
        if request.method == "GET":
            tokens.request_for_verification(token)
            return render(request, "subjects/verify.html", {"token": token})
        rights_request, secret = intake.confirm_address(token)
    except tokens.LinkProblem as problem:
        if problem.code == "used":
            used = tokens.request_of_used_link(token)
            # A second click in the browser the first one bound goes on.
            if used is not None and tokens.is_bound_browser(request, used):
                return redirect("subjects:home", tokens.access_token(used))
            # Any other browser may ask for the link to be sent again to the
            # same address, by this link (never by the request's access token).
            if used is not None and used.email and not used.is_final:
                return render(request, "subjects/confirm_browser.html",
                              {"send_url": reverse("subjects:verify_again", args=[token]),
                               "used_link": True}, status=410)
        status = {"invalid": 404, "expired": 410, "used": 410}[problem.code]
        return render(request, "subjects/link_problem.html", {"problem": problem.code},
                      status=status)
    # The next page speaks the language chosen at step 1, in any browser.
    response = redirect("subjects:home", tokens.access_token(rights_request))
    response.set_cookie(LANGUAGE_COOKIE, rights_request.language, samesite="Lax")
    response.set_signed_cookie(
        tokens.browser_cookie_name(rights_request), secret, salt=tokens.browser_cookie_salt(),
        max_age=int(tokens.BROWSER_COOKIE_AGE.total_seconds()), httponly=True,
        secure=settings.SECURE_COOKIES, samesite="Lax")
    return response


@never_cache
@require_POST
def verify_again(request, token):
    """A used confirmation link, opened in another browser within its age:
    e-mail the request's address its link again (within the abuse limits)."""
    used = tokens.request_of_used_link(token)
    if used is None or not used.email or used.is_final:
        return render(request, "subjects/link_problem.html", {"problem": "expired"}, status=410)
    try:
        abuse.check_verification_allowed(ip=client_ip(request), email=used.email)
    except RateLimited as limited:
        return too_many(request, limited)
    intake.send_new_link(used)
    return render(request, "subjects/start_sent.html")


@never_cache
@require_POST
def confirm_browser(request, token):
    """Another browser opened a request link: e-mail the request's address a
    new confirmation link (within the abuse limits); show nothing else."""
    rights_request = tokens.request_for_access(token)
    if rights_request is None:
        raise Http404
    if not rights_request.email:
        return render(request, "subjects/closed.html", {"token": token}, status=410)
    try:
        abuse.check_verification_allowed(ip=client_ip(request), email=rights_request.email)
    except RateLimited as limited:
        return too_many(request, limited)
    intake.send_new_link(rights_request)
    return render(request, "subjects/start_sent.html")


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


def while_taking_selfie(view):
    """Only while the request takes a selfie; else back to its home page."""

    @wraps(view)
    def wrapper(request, rights_request, token):
        if rights_request.state not in (State.VERIFIED, State.MATCHES_READY):
            return redirect("subjects:home", token)
        return view(request, rights_request, token)

    return wrapper


def takes_selfie(view):
    """:func:`while_taking_selfie`, and a posted selfie only within the
    abuse limits (else 429)."""

    @wraps(view)
    def wrapper(request, rights_request, token):
        if request.method == "POST":
            try:
                abuse.check_selfie_allowed(ip=client_ip(request), request=rights_request)
            except RateLimited as limited:
                return too_many(request, limited)
        return view(request, rights_request, token)

    return while_taking_selfie(wrapper)


@with_request
@require_http_methods(["GET", "POST"])
@takes_selfie
def selfie(request, rights_request, token):
    form = SelfieForm(*((request.POST, request.FILES) if request.method == "POST" else ()))
    error, status = None, 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                data = selfie_jobs.read_upload(form.cleaned_data["photo"])
                selfie_jobs.submit_selfie(rights_request, data, live=False)
            except selfie_jobs.SelfieRejected as rejected:
                error, status = rejected.message, rejected.status
            else:
                return redirect("subjects:matches", token)
    return render(request, "subjects/selfie.html",
                  {"form": form, "error": error, "token": token, "rights_request": rights_request},
                  status=status)


@with_request
@require_GET
@takes_selfie
def live(request, rights_request, token):
    """The camera check's page: the challenge (the one waiting unbegun, if
    any: ``camera_check.challenge_for_page``), and none of its poses."""
    return render(request, "subjects/live.html",
                  {"token": token, "rights_request": rights_request,
                   "challenge": camera_check.challenge_for_page(rights_request),
                   "frames": camera_check.BURST_FRAMES})


@with_request
@require_POST
@while_taking_selfie
def live_step(request, rights_request, token):
    """One step of the camera check, answered in JSON: ``begin`` reveals the
    first pose; a burst of frames for the pose shown is queued for a search
    worker (202, with the address to ask for the answer at)."""
    arrived = timezone.now()
    challenge, step = request.POST.get("challenge", ""), request.POST.get("step", "")
    try:
        if step == "begin":
            abuse.check_selfie_allowed(ip=client_ip(request), request=rights_request)
            return pose_answer(camera_check.begin(rights_request, challenge))
        if not step.isdigit():
            raise camera_check.LivenessFailed("frames_missing")
        frames = [selfie_jobs.read_upload(f) for f in request.FILES.getlist("frames")]
        camera_check.queue_burst(rights_request, challenge, int(step), frames, arrived=arrived)
    except RateLimited as limited:
        return JsonResponse({"error": str(limited.message)}, status=429,
                            headers={"Retry-After": str(limited.retry_after)})
    except (camera_check.LivenessFailed, selfie_jobs.SelfieRejected) as failure:
        return live_failure(failure)
    except camera_check.StepRefused as refused:
        return JsonResponse({"error": str(refused.message)}, status=409)
    return JsonResponse({"checking": True, "answer": reverse("subjects:live_answer",
                                                             args=[token, int(step)])},
                        status=202)


@with_request
@require_POST
def live_answer(request, rights_request, token, step):
    """The answer to the burst sent for ``step``: still being checked
    (202), the next pose, the result, or why the check failed. A POST: it
    starts the next pose's clock, and the challenge stays out of the URL."""
    try:
        outcome = camera_check.burst_answer(rights_request, request.POST.get("challenge", ""), step)
    except camera_check.LivenessFailed as failure:
        return live_failure(failure)
    except camera_check.StepRefused as refused:
        return JsonResponse({"error": str(refused.message)}, status=409)
    if outcome is None:
        return JsonResponse({"checking": True}, status=202)
    if outcome.done:
        return JsonResponse({"done": True, "next": reverse("subjects:matches", args=[token])})
    return pose_answer(outcome)


def pose_answer(outcome) -> JsonResponse:
    return JsonResponse({"step": outcome.step, "pose": outcome.pose,
                         "label": str(camera_check.POSE_LABELS[outcome.pose]),
                         "frames": camera_check.BURST_FRAMES,
                         "seconds": settings.LIVENESS_POSE_SECONDS})


def live_failure(failure) -> JsonResponse:
    return JsonResponse({"error": str(failure.message), "code": failure.code},
                        status=getattr(failure, "status", 400))


@with_request
@require_GET
def matches(request, rights_request, token):
    if rights_request.state == State.SEARCHING:
        return render(request, "subjects/searching.html",
                      {"token": token, "rights_request": rights_request})
    if rights_request.state == State.IDENTITY_REVIEW:
        return render(request, "subjects/identity_review.html",
                      {"token": token, "rights_request": rights_request,
                       "usual": transparency.usual_identity_check()})
    if rights_request.state != State.MATCHES_READY:
        return redirect("subjects:home", token)
    return render(request, "subjects/matches.html", matches_context(rights_request, token))


def matches_context(rights_request, token, *, posted=None, **extra):
    """The matches page, with the answers the person last gave (posted, or
    saved) ticked again."""
    groups = faces.matches_by_photo(rights_request)
    posted = posted if posted is not None else {}
    for match in (m for group in groups for m in group):
        match.answer = posted.get(f"decision_{match.pk}", match.decision)
    return {
        "token": token,
        "rights_request": rights_request,
        "groups": groups,
        "match_count": sum(len(group) for group in groups),
        "Decision": Match.Decision,
        "posted": posted,
        "posted_kinds": posted.getlist("kinds") if hasattr(posted, "getlist") else [],
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


def posted_decisions(data) -> dict[int, str]:
    decisions = {}
    for key, value in data.items():
        if key.startswith("decision_") and value:
            try:
                decisions[int(key.removeprefix("decision_"))] = value
            except ValueError:
                continue
    return decisions


@with_request
@require_POST
def file(request, rights_request, token):
    """Step 4. A request that erases faces is shown back first, with the
    faces it erases, and sent only from there ("checked")."""
    decisions = posted_decisions(request.POST)
    kinds = request.POST.getlist("kinds")
    try:
        if request.POST.get("change"):
            return render(request, "subjects/matches.html",
                          matches_context(rights_request, token, posted=request.POST))
        preview = filing.preview_filing(rights_request, kinds=kinds, decisions=decisions)
        if preview.erases and request.POST.get("checked") != "yes":
            return render(request, "subjects/check_request.html",
                          {"token": token, "rights_request": rights_request,
                           "preview": preview, "posted": request.POST,
                           "answers": sorted(decisions.items())})
        filing.file_request(
            rights_request,
            kinds=kinds,
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
        "usual": (transparency.usual_identity_check()
                  if rights_request.state == State.IDENTITY_REVIEW else None),
        "events": rights_request.events.order_by("pk"),
        "confirmed": rights_request.matches.filter(decision=Match.Decision.MINE).count(),
        "package": package_offer(rights_request),
        "template_kept": template_kept(rights_request),
        "right_decisions": (decided := list(rights_request.right_decisions.all())),
        "right_refused": any(d.outcome == "refused" for d in decided),
        "question": filing.open_question(rights_request),
        "photo_asked": filing.photo_asked(rights_request),
        "answer_form": extra.pop("answer_form", None) or AnswerForm(),
        **extra,
    }


def package_offer(rights_request) -> dict | None:
    """The access package, for the status page of the browser that owns the
    request: its signed link and until when it works."""
    package = getattr(rights_request, "package", None)
    if package is None or not package.file:
        return None
    if not package.is_available:
        return {"expired": True, "expires_at": package.expires_at}
    return {"url": reverse("subjects:package", args=[tokens.download_token(package)]),
            "expires_at": package.expires_at, "expired": False}


@with_request(once_closed=True)
@require_GET
def status(request, rights_request, token):
    # The identity check is followed here too (its page links to this one).
    if rights_request.before_filing and rights_request.state not in (State.UNVERIFIED,
                                                                     State.IDENTITY_REVIEW):
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


@with_request
@require_POST
def answer(request, rights_request, token):
    """The person answers the DPO's question on the status page."""
    form = AnswerForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data.get("photo")
        try:
            filing.answer_question(rights_request, text=form.cleaned_data["answer"],
                                   photo=upload.read() if upload else None)
        except TransitionNotAllowed:
            rights_request.refresh_from_db()
            return render(request, "subjects/status.html",
                          status_context(rights_request, token, error=_(
                              "This request is not waiting for an answer any more.")),
                          status=409)
        except filing.FilingRefused as refused:
            return render(request, "subjects/status.html",
                          status_context(rights_request, token, error=refused.message,
                                         answer_form=form), status=refused.status)
        return redirect("subjects:status", token)
    return render(request, "subjects/status.html",
                  status_context(rights_request, token, answer_form=form), status=400)


@with_request(once_closed=True)
@require_POST
def forget_template(request, rights_request, token):
    """Art. 7(3): withdrawing the consent to keep the template is as easy as
    giving it was (one button); the request may be long closed."""
    withdraw_template_consent(rights_request, actor=audit.REQUESTER)
    return redirect("subjects:status", token)


@never_cache
@require_GET
def download_package(request, token):
    """The access package, by the single-use link its status page made a
    few minutes ago, in the browser that confirmed the address; audited.
    Any other browser, and a used or old link, get a sentence saying where
    to get a fresh one."""
    package = tokens.package_for_download(token)
    if package is None and tokens.package_of_download_link(token) is not None:
        return render(request, "subjects/link_problem.html", {"problem": "package_link"},
                      status=410)
    if package is None:
        return render(request, "subjects/link_problem.html", {"problem": "package"}, status=404)
    if not tokens.is_bound_browser(request, package.request):
        return render(request, "subjects/link_problem.html", {"problem": "package_link"},
                      status=403)
    response = package_download(package, actor=audit.REQUESTER)
    if response is None:
        return render(request, "subjects/link_problem.html", {"problem": "package_link"},
                      status=410)
    return response
