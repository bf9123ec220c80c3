from django.conf import settings


def monolink(request):
    """The sandbox flag for the banner, and the reminder banner's flagged accounts (one query)."""
    context = {"MONO_SANDBOX": settings.MONO_SANDBOX}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        context["reauth_reminder"] = lambda: _flagged(user)
    return context


def _flagged(user):
    from .models import LinkedAccount

    return list(LinkedAccount.objects.for_user(user).flagged().only("id", "institution_name"))
