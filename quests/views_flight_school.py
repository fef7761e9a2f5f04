"""Flight school: review the questions you missed, one at a time (keyboard friendly)."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from quests.selectors_flight_school import flight_school
from quests.services.flight_school import ReviewError, review_answer
from quests.services.players import player_current
from quests.services.scoring import rank_for

# The last answer's feedback, kept across the redirect (every POST ends in one).
FEEDBACK_KEY = "quests_review_feedback"


@never_cache
@require_GET
def review(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    feedback = request.session.pop(FEEDBACK_KEY, None)
    if feedback and feedback.get("next_due"):
        feedback["next_due"] = date.fromisoformat(feedback["next_due"])
    context = {"player": player, "school": flight_school(player=player), "feedback": feedback}
    return render(request, "quests/flight_school.html", context)


def _number(value: str | None) -> int | None:
    try:
        return int(value or "")
    except ValueError:
        return None


@never_cache
@require_POST
def review_submit(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    card_id, version, choice = (_number(request.POST.get(name)) for name in ("card", "version", "choice"))
    if player is None or card_id is None or version is None:
        messages.warning(request, "That review is not in your flight school.")
        return redirect("quests:flight_school")
    if choice is None:
        messages.warning(request, "Choose an answer first.")
        return redirect("quests:flight_school")
    rank_before = rank_for(player.xp).name
    try:
        done = review_answer(player=player, card_id=card_id, version=version, choice=choice)
    except ReviewError as exc:
        messages.warning(request, str(exc))
        return redirect("quests:flight_school")
    player.refresh_from_db(fields=["xp"])
    if rank_for(player.xp).name != rank_before:
        messages.success(request, f"Promotion! You have been promoted to {rank_for(player.xp).name}.")
    request.session[FEEDBACK_KEY] = {
        "correct": done.correct,
        "xp": done.xp,
        "retired": done.retired,
        "next_due": done.next_due.isoformat() if done.next_due else None,
        "prompt": done.card.prompt,
        "right_option": done.right_option,
        "explanation": done.card.explanation,
        "fact": done.card.fact,
    }
    return redirect("quests:flight_school")
