from django import forms
from django.core.validators import RegexValidator


class CodeForm(forms.Form):
    """The one-time `code` the Connect widget hands to onSuccess."""

    # Mono's codes are short opaque tokens; anything else is garbage, not something to send to Mono.
    code = forms.CharField(
        max_length=512,
        validators=[RegexValidator(r"^[A-Za-z0-9._:~-]+$", "The code has characters Mono never uses.")],
    )
