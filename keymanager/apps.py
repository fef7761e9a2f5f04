from django.apps import AppConfig


class KeymanagerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "keymanager"
    verbose_name = "Key pool"
