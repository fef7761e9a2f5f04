from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class KeymanagerConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "keymanager"
    verbose_name = "Key pool"

    def ready(self) -> None:
        from keymanager import checks  # noqa: F401  (registers the start-up checks)
        from keymanager.models import Limit
        from keymanager.services.ceilings import limit_saved

        # However a ceiling changes (admin, command, shell), the budgets it caps learn it at once.
        def ceiling_changed(instance: Limit, **kwargs) -> None:
            limit_saved(limit=instance)

        post_save.connect(ceiling_changed, sender=Limit, dispatch_uid="keymanager-limit-saved", weak=False)
        post_delete.connect(ceiling_changed, sender=Limit, dispatch_uid="keymanager-limit-deleted", weak=False)
