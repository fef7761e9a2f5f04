from django.apps import AppConfig


class QuestsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "quests"
    verbose_name = "Quests"

    def ready(self) -> None:
        from keymanager.services import register_fallback_counter
        from quests.selectors import archive_serves

        # The pool's reports count the archive runs the game served when the pool could not.
        register_fallback_counter(archive_serves)
