"""The dashboard's one-time "Access Bank reconnected" notice."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from accounts.models import LinkedAccount, User

RECONNECTION_NOTICE_WINDOW = timedelta(days=7)


def take_reconnection_notices(*, user, accounts: list[LinkedAccount]) -> list[LinkedAccount]:
    """The accounts whose flag cleared since the user last saw a notice (at most a week back), and
    remember that they were seen: the dashboard says "Access Bank reconnected" once.

    Marks up to the newest reconnection shown, not "now": a flag that clears while this page renders
    still gets its notice next time.
    """
    since = max(user.reconnections_seen_at or user.date_joined, timezone.now() - RECONNECTION_NOTICE_WINDOW)
    fresh = [
        account
        for account in accounts
        if account.state == LinkedAccount.State.OK
        and account.reauth_completed_at
        and account.reauth_completed_at > since
    ]
    if fresh:
        newest = max(account.reauth_completed_at for account in fresh)
        User.objects.filter(pk=user.pk).update(reconnections_seen_at=newest)
        user.reconnections_seen_at = newest
    return fresh
