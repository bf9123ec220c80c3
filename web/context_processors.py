from django.conf import settings
from django.utils.functional import SimpleLazyObject

from accounts.models import LinkedAccount


def monolink(request):
    """The sandbox flag, the support address, and the reminder banner's accounts: one query, run only
    if a page shows it."""
    context = {"MONO_SANDBOX": settings.MONO_SANDBOX, "SUPPORT_EMAIL": settings.SUPPORT_EMAIL}
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        # Lazy and evaluated once: however many times a template touches it, one query at most.
        context["reauth_reminder"] = SimpleLazyObject(lambda: _needing_user(user))
    return context


def _needing_user(user) -> list:
    # needing_user(): flagged, still linked, not inside the post-widget grace period.
    return list(LinkedAccount.objects.for_user(user).needing_user().only("id", "institution_name"))
