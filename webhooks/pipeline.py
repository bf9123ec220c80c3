def replay_unmatched(*, mono_account_id: str) -> None:
    """Placeholder until the webhook pipeline lands (issue 3)."""
