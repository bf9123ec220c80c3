from django import forms
from django.core.validators import RegexValidator


class CodeForm(forms.Form):
    """The one-time `code` the Connect widget hands to onSuccess."""

    # Mono's codes are short opaque tokens; anything else is garbage, not something to send to Mono.
    code = forms.CharField(
        max_length=512,
        validators=[RegexValidator(r"^[A-Za-z0-9._:~-]+$", "The code has characters Mono never uses.")],
    )


class LinkForm(CodeForm):
    """The link flow's post: the code, and the bank the user picked (the widget's INSTITUTION_SELECTED),
    shown as "Linking <bank>…" until Mono has answered."""

    institution = forms.CharField(max_length=128, required=False)
