"""The game's pages. Views stay thin: services decide, templates show."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.views import LoginView, LogoutView
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST, require_safe

from cosmosquest.accounts import CappedAuthenticationForm, auth_failure_record
from cosmosquest.proxy import client_ip
from quests import selectors, selectors_flight_school, selectors_leagues
from quests.conf import game_settings
from quests.forms import AnswerForm, CallsignForm, SignupForm
from quests.models import FallbackReason, Quest, QuestRun, RunStatus, Tier
from quests.services.grading import GradingError, RunAlreadyAnswered, RunNotReady, run_grade
from quests.services.live import LiveState, fallback_at, live_settle, live_state
from quests.services.players import (
    SESSION_KEY,
    UNAVAILABLE,
    CallsignTaken,
    InvalidCallsign,
    player_claim_guest,
    player_current,
    player_current_or_create,
    player_rename,
)
from quests.services.runs import NotReplayable, run_replay, run_start
from quests.services.scoring import PERFECT_BONUS, RANKS, XP_PER_CORRECT, rank_for, tier_unlocked, tiers_for
from quests.services.share_card import share_card, share_token
from quests.services.signup import SignupRefused, SignupUnavailable, signup_open

# Answers and callsigns that need another try are kept here across the redirect, so every
# POST ends in a redirect and the browser's back button never lands on a POST response.
DRAFT_KEY = "quests_draft"
# The run whose answers earned a promotion, and the rank it left: its result page shows the
# rank just completed as a full bar beside the new one (whose bar starts empty).
PROMOTED_KEY = "quests_promoted"


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


FAVICON = Path(__file__).resolve().parent.parent / "static" / "quests" / "favicon.ico"


@require_safe
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page links to; the pages link the SVG."""
    return HttpResponse(FAVICON.read_bytes(), content_type="image/x-icon")


@require_safe  # HEAD too: uptime monitors probe the home page with it
def star_map(request: HttpRequest) -> HttpResponse:
    player = player_current(request)
    context = {
        "player": player,
        "cards": selectors.star_map(player=player),
        "rank": rank_for(player.xp if player else 0),
        "position": selectors.player_position(player=player) if player else None,
        "suggested": selectors.next_quest(player=player),
        "daily": selectors.daily_card(player=player),
        "streak": selectors.player_streak(player=player) if player else 0,
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
            player=player, quest=quest, status__in=[RunStatus.PENDING, RunStatus.READY], daily__isnull=True
        ).first()
    flown, flown_total = selectors.flown_missions(player=player, quest=quest)
    context = {
        "quest": quest,
        "player": player,
        "open_run": open_run,
        "tiers": tiers_for(player.xp if player else 0),
        "badges": selectors.quest_badges(player=player, quest=quest),
        "xp_cap": game_settings().xp_cap_per_quest_per_day,
        "xp_left": selectors.xp_left_today(player=player, quest=quest),
        "flown": flown,
        "flown_total": flown_total,
        "archive_counts": selectors.archive_new_counts(player=player, quest=quest),
    }
    return render(request, "quests/quest_detail.html", context)


@require_POST
def quest_replay(request: HttpRequest, number: int) -> HttpResponse:
    """Fly a mission of the log again, on purpose: practice, 0 XP (said on the button and the mission)."""
    player = player_current(request)
    try:
        run_id = int(request.POST.get("run", ""))
    except ValueError:
        run_id = 0
    try:
        if player is None:
            raise NotReplayable("There is no flown mission with that number in your log.")
        run = run_replay(player=player, run_id=run_id)
    except NotReplayable as exc:
        return problem(request, status=404, title="Mission not found", message=str(exc))
    return redirect("quests:run_detail", pk=run.pk)


@require_POST
def quest_launch(request: HttpRequest, number: int) -> HttpResponse:
    quest = _quest_or_none(number)
    if quest is None:
        return problem(request, status=404, title="Unknown quest", message=f"There is no quest number {number} on the star map.")
    tier = request.POST.get("tier") or Tier.CADET
    if tier not in Tier.values:
        return problem(request, status=400, title="Unknown tier", message="Choose cadet, officer or commander.")
    player = player_current(request)
    if not tier_unlocked(xp=player.xp if player else 0, tier=tier):
        return problem(
            request,
            status=403,
            title="Tier locked",
            message=f"The {Tier(tier).label} tier opens at a higher rank. Earn XP on easier missions first.",
        )
    player = player or player_current_or_create(request)
    run = run_start(player=player, quest=quest, tier=tier, address=client_ip(request))
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
    draft = request.session.pop(DRAFT_KEY, None)
    if draft and draft.get("run") == run.pk:
        form = AnswerForm(draft["answers"], questions=run.questions)
        form.is_valid()  # shows which questions still need an answer
    else:
        form = AnswerForm(questions=run.questions)
    # A run still pending here is past its deadline: the archive mission it holds is shown.
    reason = FallbackReason.TIMEOUT if run.status == RunStatus.PENDING else run.fallback_reason
    context = {
        "run": run,
        "quest": run.quest,
        "form": form,
        "archive": state == LiveState.ARCHIVE,
        "reason": reason,
        "practice": selectors.run_is_practice(run=run),
    }
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
        return _already_answered(request, run)
    if run.status != RunStatus.READY:
        messages.info(request, "This mission's transmission has not arrived yet.")
        return redirect("quests:run_detail", pk=run.pk)
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
        request.session[DRAFT_KEY] = {"run": run.pk, "answers": {k: form.data[k] for k in form.fields if k in form.data}}
        return redirect("quests:run_detail", pk=run.pk)
    try:
        graded = run_grade(run_id=run.pk, player=run.player, answers=form.answers())
    except RunAlreadyAnswered:
        return _already_answered(request, run)
    except RunNotReady:
        return redirect("quests:run_detail", pk=run.pk)
    except GradingError as exc:
        return problem(request, status=exc.status, title=exc.title, message=str(exc), run=run)
    if graded.promoted:
        messages.success(request, f"Promotion! You have been promoted to {graded.rank_after}.")
        request.session[PROMOTED_KEY] = {"run": run.pk, "from": graded.rank_before}
    if graded.freeze_used:
        messages.info(request, "Your streak freeze covered the day you missed: your streak goes on.")
    if graded.freeze_earned:
        messages.success(request, "Seven days in a row: you earned a streak freeze. It covers one missed day.")
    if graded.review_cards:
        messages.info(
            request,
            f"{graded.review_cards} missed question{'s' if graded.review_cards > 1 else ''} will come back "
            "in Flight school tomorrow.",
        )
    return redirect("quests:run_result", pk=run.pk)


def share_context(request: HttpRequest, run: QuestRun) -> dict:
    """The share card of an answered daily run: its text, with the public link that previews it."""
    card = share_card(run)
    url = request.build_absolute_uri(reverse("quests:daily_share", args=[share_token(run)]))
    return {"card": card, "url": url, "text": card.text(url)}


def _already_answered(request: HttpRequest, run: QuestRun) -> HttpResponse:
    messages.warning(
        request,
        "You had already sent your answers for this mission. Each mission counts once; "
        "your result and XP are safe in your log.",
    )
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
            "fact": q.get("fact", ""),
        }
        for i, q in enumerate(run.questions, start=1)
    ]
    promoted = request.session.pop(PROMOTED_KEY, None)
    context = {
        "run": run,
        "quest": run.quest,
        "player": player,
        "review": review,
        "rank": rank_for(player.xp),
        "rank_completed": promoted["from"] if promoted and promoted.get("run") == run.pk else None,
        "next_quest": selectors.next_quest(player=player, after=run.quest),
        "daily_position": selectors.daily_position(run=run) if run.daily_id else None,
        "share": share_context(request, run) if run.daily_id else None,
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
    if request.method == "POST":
        form = CallsignForm(request.POST)
        if form.is_valid():
            player = player or player_current_or_create(request)
            try:
                player_rename(player=player, callsign=form.cleaned_data["callsign"])
            except InvalidCallsign as exc:
                form.add_error("callsign", str(exc))
            else:
                messages.success(request, f"Callsign changed to {player.callsign}.")
                return redirect("quests:profile")
        request.session[DRAFT_KEY] = {"callsign": request.POST.get("callsign", "")[:200], "error": form.errors["callsign"][0]}
        return redirect("quests:profile")
    draft = request.session.pop(DRAFT_KEY, None)
    form = CallsignForm(initial={"callsign": player.callsign} if player else None)
    if draft and "callsign" in draft:
        form = CallsignForm({"callsign": draft["callsign"]})
        form.is_valid()
        form.errors["callsign"] = form.error_class([draft["error"]])
    context = {
        "player": player,
        "form": form,
        "rank": rank_for(player.xp if player else 0),
        "position": selectors.player_position(player=player) if player else None,
        "history": selectors.player_history(player=player) if player else [],
        "streak": selectors.player_streak(player=player) if player else 0,
        "calendar": selectors.play_calendar(player=player) if player else [],
        "badges": selectors.player_badges(player=player) if player else [],
        "freeze": selectors.streak_freeze(player=player) if player else None,
        "league": selectors_leagues.league_view(player=player) if player else None,
        "reviews_due": selectors_flight_school.due_count(player=player),
        "ranks": RANKS,
        "xp_per_correct": XP_PER_CORRECT,
        "perfect_bonus": PERFECT_BONUS,
        "xp_cap": game_settings().xp_cap_per_quest_per_day,
    }
    return render(request, "quests/profile.html", context)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("quests:profile")
    guest_id = request.session.get(SESSION_KEY)
    form = SignupForm(request.POST or None, player=player_current(request))
    if request.method == "POST":
        address = client_ip(request)
        try:
            valid = form.is_valid()
            player = signup_open(user=form.save(commit=False), guest_id=guest_id, address=address) if valid else None
        except SignupRefused as exc:
            hours = max(1, -(-exc.refusal.seconds_left // 3600))
            return problem(
                request,
                status=429,
                title="Too many new accounts",
                message=f"Too many accounts were opened from your network lately: please try again in about {hours} "
                "hour(s). Until then you can keep playing as a guest; your missions will come with you.",
            )
        except SignupUnavailable:
            return problem(request, status=503, title="Sign-up is paused",
                           message="Sign-up is unavailable for a moment. Please try again in a few minutes.")
        except CallsignTaken:
            form.add_error("username", UNAVAILABLE)
            form.name_refused, player = True, None
        if form.name_refused:
            auth_failure_record(address)  # a refused name tells as much as a failed login
        if player is not None:
            login(request, player.user)
            request.session.pop(SESSION_KEY, None)
            messages.success(request, f"Welcome aboard, {player.callsign}! Your progress is saved to your account.")
            return redirect("quests:star_map")
    return render(request, "registration/signup.html", {"form": form}, status=400 if form.errors else 200)


class PlayerLoginView(LoginView):
    """Logging in claims the guest's runs, so nothing played before signing in is lost."""

    authentication_form = CappedAuthenticationForm
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

