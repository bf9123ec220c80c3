"""What the pages post: the Connect widget's one-time `code` (JSON or a plain form) and "Forgot password?";
and the answers the Connect script reads (a 400 for bad input, a 429 for too many Mono calls)."""

from __future__ import annotations

import json

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.throttles import MonoActionLimited
from monolink.mono import CODE_MAX_LENGTH, code_validator
from notifications.tasks import queue_password_reset_email


class SignInForm(AuthenticationForm):
    """Django's sign-in form, in plain words: what to do, not what went wrong inside."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": "The username or password is not right. Check both and try again.",
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].error_messages["required"] = "Enter your username"
        self.fields["password"].error_messages["required"] = "Enter your password"


class CodeForm(forms.Form):
    """The one-time `code` the Connect widget hands to onSuccess."""

    code = forms.CharField(max_length=CODE_MAX_LENGTH, validators=[code_validator])


class LinkForm(CodeForm):
    """The link flow's post: the code, and the bank the user picked (the widget's INSTITUTION_SELECTED),
    shown as "Linking <bank>…" until Mono has answered."""

    institution = forms.CharField(max_length=128, required=False)


def form_from_request(request: HttpRequest, form_class: type[CodeForm] = CodeForm) -> tuple[CodeForm, bool]:
    """Accept the script's JSON body or a plain form post; a malformed body is just an invalid form."""
    wants_json = request.content_type == "application/json"
    if wants_json:
        try:
            data = json.loads(request.body or b"null")
        except (ValueError, UnicodeDecodeError):
            data = None
        # Only strings count: a number where the code belongs is garbage, not a code to coerce.
        fields = {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}
        form = form_class(fields)
    else:
        form = form_class(request.POST)
    return form, wants_json


def bad_request(form: CodeForm) -> JsonResponse:
    errors = "; ".join(f"{name}: {' '.join(msgs)}" for name, msgs in form.errors.items())
    return JsonResponse({"status": "error", "message": f"Invalid request ({errors})."}, status=400)


def too_many(response: HttpResponse, exc: MonoActionLimited) -> HttpResponse:
    """A 429 for a Mono-bound action over its limit (accounts.throttles), saying when to come back."""
    response.status_code = 429
    response["Retry-After"] = str(exc.retry_after)
    return response


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's "Forgot password?" form, with the email sent from the mail queue: Django's save()
    talks to the mail server in the request, for known addresses only, and the time it takes tells
    who has an account. Django's options for the email (templates, token, domain) are not used
    here: notifications.password_reset builds it from SITE_URL when it is sent."""

    def save(self, **django_email_options) -> None:
        for user in self.get_users(self.cleaned_data["email"]):
            queue_password_reset_email(user_id=user.pk)
