"""The weekly leagues page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from quests.selectors_leagues import league_view
from quests.services.leagues import leagues_close_due
from quests.services.players import player_current


@require_GET
def leagues(request: HttpRequest) -> HttpResponse:
    # A week that is over is closed before the new one is shown (once, by whoever comes first).
    leagues_close_due()
    player = player_current(request)
    view = league_view(player=player)
    seconds_left = max(0, int((view.ends_at - timezone.now()).total_seconds()))
    return render(request, "quests/leagues.html", {"player": player, "league": view, "seconds_left": seconds_left})
