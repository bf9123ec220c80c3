"""The link endpoints the Connect script posts to: exchange the widget's code now, or say it is pending (202),
and the attempt's status the dashboard polls. The rules are in linking (the API calls the same ones).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.models import LinkAttempt
from accounts.throttles import MonoActionLimited
from linking import services
from linking.exchange import LinkCodeTaken
from monolink.mono import Deadline

from .forms import LinkForm, bad_request, form_from_request, too_many


@login_required
@require_POST
def link_complete(request):
    """The widget finished linking a new bank: exchange its code now, or say it is pending (202)."""
    form, wants_json = form_from_request(request, LinkForm)
    if not form.is_valid():
        return bad_request(form)
    try:
        attempt = services.start_link(
            user=request.user,
            code=form.cleaned_data["code"],
            institution_name=form.cleaned_data["institution"],
            deadline=Deadline.after(settings.MONO_REQUEST_DEADLINE),
        )
    except LinkCodeTaken as exc:
        return _link_failed(request, wants_json, str(exc), status=409)
    except MonoActionLimited as exc:
        if wants_json:  # the script shows the message; a plain form post goes back to the dashboard with it
            return too_many(JsonResponse({"status": "error", "message": exc.user_message}), exc)
        return _link_failed(request, wants_json, exc.user_message, status=429)
    answer = _attempt_answer(attempt)
    if attempt.status == LinkAttempt.Status.FAILED:
        # Mono took the code but the account is another user's (409), or Mono refused the code (502).
        return _link_failed(request, wants_json, answer["message"], status=409 if attempt.mono_account_id else 502)
    if attempt.status == LinkAttempt.Status.LINKED:
        messages.success(request, answer["message"])  # shown on the dashboard the script goes to
    if wants_json:
        return JsonResponse(answer, status=202 if attempt.status == LinkAttempt.Status.PENDING else 200)
    return redirect(answer["redirect"])


@login_required
@require_GET
def link_status(request, attempt_id: int):
    """What became of one of the user's link attempts (the dashboard polls it while pending)."""
    attempt = get_object_or_404(LinkAttempt.objects.for_user(request.user), pk=attempt_id)
    return JsonResponse(_attempt_answer(attempt), headers={"Cache-Control": "no-store"})


def _attempt_answer(attempt: LinkAttempt) -> dict:
    return {
        **services.attempt_state(attempt),
        "status_url": reverse("web:link_status", args=[attempt.pk]),
        "redirect": reverse("web:dashboard"),
    }


def _link_failed(request, wants_json: bool, message: str, *, status: int) -> HttpResponse:
    if wants_json:
        return JsonResponse({"status": "error", "message": message}, status=status)
    messages.error(request, message)
    return redirect("web:dashboard")
