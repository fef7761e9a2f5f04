"""The game's pages. Views stay thin: services decide, templates show."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from quests import selectors
from quests.forms import AnswerForm, CallsignForm, SignupForm
from quests.models import Quest, QuestRun, RunStatus
from quests.services.grading import GradingError, run_grade
from quests.services.players import (
    SESSION_KEY,
    player_claim_guest,
    player_current,
    player_current_or_create,
    player_rename,
)
from quests.services.runs import run_start, run_transmit
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


@require_safe  # HEAD too: uptime monitors probe the home page with it
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
    run = run_start(player=player, quest=quest)
    return redirect("quests:run_detail", pk=run.pk)


@never_cache
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
    if run.status == RunStatus.ANSWERED:
        return redirect("quests:run_result", pk=run.pk)
    if run.status == RunStatus.PENDING:
        return render(request, "quests/transmitting.html", {"run": run, "quest": run.quest})
    form = AnswerForm(questions=run.questions)
    return render(request, "quests/run.html", {"run": run, "quest": run.quest, "form": form})


@never_cache
@require_GET
def run_transmission(request: HttpRequest, pk: int) -> HttpResponse:
    """Generates a pending run. A GET, because the progress page reaches it by meta refresh,
    which works without JavaScript; it is idempotent: a run is generated once."""
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
    run = run_transmit(run=run)
    if run.status == RunStatus.PENDING:
        # Another request is generating it: show progress again and look back shortly.
        return render(request, "quests/transmitting.html", {"run": run, "quest": run.quest, "waiting": True})
    return redirect("quests:run_detail", pk=run.pk)


@never_cache
@require_POST
def run_answer(request: HttpRequest, pk: int) -> HttpResponse:
    run = _my_run(request, pk)
    if run is None:
        return _not_found(request)
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
        return render(request, "quests/run.html", {"run": run, "quest": run.quest, "form": form}, status=400)
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

