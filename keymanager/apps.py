from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class KeymanagerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "keymanager"
    verbose_name = "Key pool"

    def ready(self) -> None:
        from keymanager import checks  # noqa: F401  (registers the start-up checks)
        from keymanager.models import Limit
        from keymanager.services.budgets import forget_limits

        def limits_changed(**kwargs) -> None:
            forget_limits()

        post_save.connect(limits_changed, sender=Limit, dispatch_uid="keymanager-limits-saved", weak=False)
        post_delete.connect(limits_changed, sender=Limit, dispatch_uid="keymanager-limits-deleted", weak=False)
