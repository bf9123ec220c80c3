"""What the Connect script posts: the widget's one-time `code`, as JSON or a plain form."""

from __future__ import annotations

import json

from django import forms
from django.http import HttpRequest, JsonResponse

from monolink.mono import CODE_MAX_LENGTH, code_validator


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
