from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Mono webhooks"

    def ready(self):
        from accounts.signals import account_linked

        from . import pipeline

        # Mono's webhooks can beat the browser's code exchange: those deliveries were parked as
        # unmatched and run once the account exists (accounts sends this after the link commits).
        account_linked.connect(pipeline.replay_on_link, dispatch_uid="webhooks.replay_on_link")
