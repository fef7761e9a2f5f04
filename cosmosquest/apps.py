"""The project's own wiring: start-up checks and the failed-login counter."""

from __future__ import annotations

from django.apps import AppConfig


class CosmosQuestConfig(AppConfig):
    name = "cosmosquest"
    verbose_name = "CosmosQuest"

    def ready(self) -> None:
        from cosmosquest import accounts, checks  # noqa: F401  (registers checks and signal receivers)
