"""What accounts announces to the layers above it, so it never imports them (webhooks → accounts).

`account_linked` is sent after the link commits, with `mono_account_id`; webhooks replays the
deliveries that arrived before the link (see webhooks.apps). A notification, not a rule: the rules
stay in accounts.rules and the replay in webhooks.pipeline.
"""

from django.dispatch import Signal

account_linked = Signal()
