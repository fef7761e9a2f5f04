"""The daily mission's pages: the mission and its board, and the public share card."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST, require_safe

from quests import selectors
from quests.services.daily import daily_for, daily_start, next_daily_at
from quests.services.players import player_current, player_current_or_create
from quests.services.share_card import run_for_token, share_card
from quests.services.share_image import share_png
from quests.views import problem, share_context


@require_GET
def daily(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    choice = daily_for(player=player)
    mission = choice.mission
    my_run = selectors.daily_run(mission=mission, player=player)
    answered = my_run is not None and my_run.status == "answered"
    next_at = next_daily_at()
    context = {
        "player": player,
        "mission": mission,
        "choice": choice,
        "my_run": my_run,
        "rows": selectors.daily_leaderboard(mission=mission),
        "today": timezone.localdate(),
        "offer": selectors.xp_offer(player=player, tier=mission.tier, new=choice.new),
        "next_at": next_at,
        "seconds_left": max(0, int((next_at - timezone.now()).total_seconds())),
        "share": share_context(request, my_run) if answered else None,
    }
    return render(request, "quests/daily.html", context)


@require_POST
def daily_launch(request: HttpRequest) -> HttpResponse:
    player = player_current_or_create(request)
    run = daily_start(player=player)
    return redirect("quests:run_detail", pk=run.pk)


def _shared_or_404(request: HttpRequest, token: str):
    run = run_for_token(token)
    if run is None:
        return None, problem(
            request, status=404, title="Card not found", message="This share link is not one of ours, or it was cut short."
        )
    return run, None


@require_safe
def daily_share(request: HttpRequest, token: str) -> HttpResponse:
    """A shared result, for anyone with the link: the card and its link preview (Open Graph)."""
    run, missing = _shared_or_404(request, token)
    if missing:
        return missing
    card = share_card(run)
    context = {
        "card": card,
        "image_url": request.build_absolute_uri(f"{request.path.rstrip('/')}.png"),
        "page_url": request.build_absolute_uri(request.path),
        "is_today": card.day == timezone.localdate(),
    }
    return render(request, "quests/share.html", context)


@require_safe
@cache_control(public=True, max_age=86400)
def daily_share_image(request: HttpRequest, token: str) -> HttpResponse:
    """The card as a PNG, for link previews. A card never changes once its run is answered."""
    run, missing = _shared_or_404(request, token)
    if missing:
        return missing
    return HttpResponse(share_png(share_card(run)), content_type="image/png")
