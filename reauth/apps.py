from django.apps import AppConfig


class ReauthConfig(AppConfig):
    name = "reauth"
    verbose_name = "Re-authorisation"
