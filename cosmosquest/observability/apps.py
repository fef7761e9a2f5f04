from django.apps import AppConfig


class ObservabilityConfig(AppConfig):
    name = "cosmosquest.observability"
    label = "observability"
    verbose_name = "Observability"

    def ready(self) -> None:
        from cosmosquest.observability import tasks

        tasks.connect()
