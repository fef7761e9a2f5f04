"""The game's pages. Views stay thin: services decide, templates show."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from cosmosquest.security import client_ip
from quests import selectors
from quests.forms import AnswerForm, CallsignForm, SignupForm
from quests.models import FallbackReason, Quest, QuestRun, RunStatus
from quests.services.grading import GradingError, run_grade
from quests.services.live import LiveState, fallback_at, live_settle, live_state
from quests.services.players import (
    SESSION_KEY,
    player_claim_guest,
    player_current,
    player_current_or_create,
    player_rename,
)
from quests.services.runs import run_start
from quests.services.scoring import PERFECT_BONUS, RANKS, XP_PER_CORRECT, rank_for


def problem(request: HttpRequest, *, status: int, title: str, message: str, run: QuestRun | None = None) -> HttpResponse:
    """A clear, friendly error page: 400 for a submission that cannot count, 404 for what is not yours."""
    return render(request, "quests/problem.html", {"title": title, "message": message, "run": run}, status=status)


def _quest_or_none(number: int) -> Quest | None:
    return Quest.objects.filter(number=number, enabled=True).first()


def _my_run(request: HttpRequest, pk: int) -> QuestRun | None:
    player = player_current(request)
    if player is None:
        return None
    return QuestRun.objects.filter(pk=pk, player=player).select_related("quest", "player").first()


def _not_found(request: HttpRequest) -> HttpResponse:
    return problem(
        request,
        status=404,
        title="Mission not found",
        message="There is no mission with that number in your flight log. It may belong to another pilot, "
        "or your session may have ended.",
    )


@require_GET
def star_map(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    context = {
        "player": player,
        "cards": selectors.star_map(player=player),
        "rank": rank_for(player.xp if player else 0),
        "position": selectors.player_position(player=player) if player else None,
        "suggested": selectors.next_quest(player=player),
    }
    return render(request, "quests/star_map.html", context)


@require_GET
def quest_detail(request: HttpRequest, number: int) -> HttpResponse:
    quest = _quest_or_none(number)
    if quest is None:
        return problem(request, status=404, title="Unknown quest", message=f"There is no quest number {number} on the star map.")
    player = player_current(request)
    open_run = None
    if player is not None:
        open_run = QuestRun.objects.filter(
            player=player, quest=quest, status__in=[RunStatus.PENDING, RunStatus.READY]
        ).first()
    return render(request, "quests/quest_detail.html", {"quest": quest, "player": player, "open_run": open_run})


@require_POST
def quest_launch(request: HttpRequest, number: int) -> HttpResponse:
    quest = _quest_or_none(number)
    if quest is None:
        return problem(request, status=404, title="Unknown quest", message=f"There is no quest number {number} on the star map.")
    player = player_current_or_create(request)
    run = run_start(player=player, quest=quest, address=client_ip(request))
    return redirect("quests:run_detail", pk=run.pk)


# How often the progress page's script asks whether the mission is ready.
STATUS_POLL_MS = 300


@never_cache
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The mission, or its progress while a task writes it. Reads only: a GET never starts,
    finishes or changes a mission, so prefetchers and crawlers spend nothing."""
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
    state = live_state(run)
    if state == LiveState.ANSWERED:
        return redirect("quests:run_result", pk=run.pk)
    if state == LiveState.WRITING:
        context = {
            "run": run,
            "quest": run.quest,
            "wait_seconds": max(1, round((fallback_at(run) - run.created_at).total_seconds())),
            "poll_ms": STATUS_POLL_MS,
        }
        return render(request, "quests/transmitting.html", context)
    # A run still pending here is past its deadline: the archive mission it holds is shown.
    reason = FallbackReason.TIMEOUT if run.status == RunStatus.PENDING else run.fallback_reason
    form = AnswerForm(questions=run.questions)
    context = {"run": run, "quest": run.quest, "form": form, "archive": state == LiveState.ARCHIVE, "reason": reason}
    return render(request, "quests/run.html", context)


@never_cache
@require_GET
def run_status(request: HttpRequest, pk: int) -> JsonResponse:
    """The progress page's cheap check (JSON): is the mission ready, and where to go next."""
    run = _my_run(request, pk)
    if run is None:
        return JsonResponse({"error": "There is no mission with that number in your flight log."}, status=404)
    state = live_state(run)
    target = "quests:run_result" if state == LiveState.ANSWERED else "quests:run_detail"
    return JsonResponse({"state": state, "url": reverse(target, args=[run.pk]), "poll_ms": STATUS_POLL_MS})


@never_cache
@require_POST
def run_answer(request: HttpRequest, pk: int) -> HttpResponse:
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
    run = live_settle(run=run)
    if run.status == RunStatus.ANSWERED:
        return problem(
            request,
            status=400,
            title="Mission already answered",
            message="You have already sent your answers for this mission. Each mission counts once; "
            "your result and XP are safe in your log.",
            run=run,
        )
    if run.status != RunStatus.READY:
        return problem(request, status=400, title="Mission not ready", message="This mission's transmission has not arrived yet.", run=run)
    form = AnswerForm(request.POST, questions=run.questions)
    if form.tampered():
        return problem(
            request,
            status=400,
            title="Transmission garbled",
            message="Those answers do not match this mission's questions, so they cannot be graded. "
            "Please answer from the mission page.",
            run=run,
        )
    if not form.is_valid():
        context = {"run": run, "quest": run.quest, "form": form, "archive": run.is_archive, "reason": run.fallback_reason}
        return render(request, "quests/run.html", context, status=400)
    try:
        graded = run_grade(run_id=run.pk, player=run.player, answers=form.answers())
    except GradingError as exc:
        return problem(request, status=exc.status, title=exc.title, message=str(exc), run=run)
    if graded.promoted:
        messages.success(request, f"Promotion! You have been promoted to {graded.rank_after}.")
    return redirect("quests:run_result", pk=run.pk)


@never_cache
@require_GET
def run_result(request: HttpRequest, pk: int) -> HttpResponse:
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
    if run.status != RunStatus.ANSWERED:
        return redirect("quests:run_detail", pk=run.pk)
    player = run.player
    review = [
        {
            "number": i,
            "prompt": q["prompt"],
            "options": q["options"],
            "answer": q["answer"],
            "chosen": run.answers[i - 1],
            "correct": run.answers[i - 1] == q["answer"],
            "explanation": q["explanation"],
        }
        for i, q in enumerate(run.questions, start=1)
    ]
    context = {
        "run": run,
        "quest": run.quest,
        "player": player,
        "review": review,
        "rank": rank_for(player.xp),
        "next_quest": selectors.next_quest(player=player, after=run.quest),
    }
    return render(request, "quests/result.html", context)


@require_GET
def leaderboard(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    rows = [{"player": p, "rank": rank_for(p.xp)} for p in selectors.leaderboard()]
    position = selectors.player_position(player=player) if player else None
    return render(request, "quests/leaderboard.html", {"rows": rows, "player": player, "position": position})


@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    form = CallsignForm(initial={"callsign": player.callsign} if player else None)
    if request.method == "POST":
        form = CallsignForm(request.POST)
        if form.is_valid():
            player = player or player_current_or_create(request)
            player_rename(player=player, callsign=form.cleaned_data["callsign"])
            messages.success(request, f"Callsign changed to {player.callsign}.")
            return redirect("quests:profile")
    context = {
        "player": player,
        "form": form,
        "rank": rank_for(player.xp if player else 0),
        "position": selectors.player_position(player=player) if player else None,
        "history": selectors.player_history(player=player) if player else [],
        "ranks": RANKS,
        "xp_per_correct": XP_PER_CORRECT,
        "perfect_bonus": PERFECT_BONUS,
    }
    return render(request, "quests/profile.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("quests:profile")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        guest_id = request.session.get(SESSION_KEY)
        user = form.save()
        login(request, user)
        player = player_claim_guest(user=user, guest_id=guest_id)
        request.session.pop(SESSION_KEY, None)
        messages.success(request, f"Welcome aboard, {player.callsign}! Your progress is saved to your account.")
        return redirect("quests:star_map")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


class PlayerLoginView(LoginView):
    """Logging in claims the guest's runs, so nothing played before signing in is lost."""

    next_page = "quests:star_map"
    redirect_authenticated_user = True

    def form_valid(self, form):
        guest_id = self.request.session.get(SESSION_KEY)
        response = super().form_valid(form)
        player_claim_guest(user=form.get_user(), guest_id=guest_id)
        self.request.session.pop(SESSION_KEY, None)
        return response


class PlayerLogoutView(LogoutView):
    next_page = "quests:star_map"

