"""Prometheus collectors that read the database at scrape time: the key pool, the game and the
django-q2 cluster. Every host reads the same rows, so every host reports the same values:
aggregate these series across instances with `max`, not `sum` (the per-process histograms,
`cosmosquest_pool_complete_seconds` and `cosmosquest_http_request_seconds`, are the ones to sum).
"""

from __future__ import annotations

import math

from django.utils import timezone
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from cosmosquest.observability.health import cluster_heartbeats
from keymanager.models import Outcome
from keymanager.selectors import metrics as pool
from keymanager.selectors.usage import Stats

BUDGET = ["provider", "organization", "model"]
STATUSES = ("ok", "degraded", "down")
WINDOW = {"rpm": "minute", "tpm": "minute", "itpm": "minute", "otpm": "minute", "rpd": "day", "tpd": "day"}


class PoolCollector(Collector):
    def collect(self):
        now = timezone.now()
        yield from self._budgets(now.timestamp())
        yield from self._keys(now)
        yield from self._cooldowns(now)
        yield from self._usage(now)
        yield from self._events()

    def _budgets(self, now: float):
        limit = GaugeMetricFamily(
            "cosmosquest_pool_limit", "Limit the pool works with, and where it comes from "
            "(default, probe, header, 429, admin).", labels=[*BUDGET, "kind", "source"])
        used = GaugeMetricFamily(
            "cosmosquest_pool_budget_used", "What the budget holds for the limit: over the trailing minute "
            "for rpm/tpm/itpm/otpm, not yet refilled for rpd/tpd (an upper bound).", labels=[*BUDGET, "kind", "window"])
        headroom = GaugeMetricFamily(
            "cosmosquest_pool_headroom_ratio", "Share of the tightest limit still free (0-1).", labels=BUDGET)
        waiting = GaugeMetricFamily(
            "cosmosquest_pool_reservations", "Calls admitted into slots still ahead (sleeping until their slot).",
            labels=BUDGET)
        wait = GaugeMetricFamily(
            "cosmosquest_pool_reservation_wait_seconds", "Seconds until the last reserved slot.", labels=BUDGET)
        remaining = GaugeMetricFamily(
            "cosmosquest_pool_provider_remaining", "What the provider's last x-ratelimit-remaining-* header said "
            "(Groq: requests per day, tokens per minute; OpenAI: both per minute).", labels=[*BUDGET, "count"])
        age = GaugeMetricFamily(
            "cosmosquest_pool_provider_report_age_seconds", "Seconds since the provider's last rate-limit headers.",
            labels=BUDGET)
        for budget in pool.budget_figures(now=now):
            labels = [budget.provider, budget.organization, budget.model]
            for view in budget.limits:
                if view.value is not None:
                    limit.add_metric([*labels, view.kind, view.source or "none"], view.value)
            for kind, value in budget.used.items():
                used.add_metric([*labels, kind, WINDOW[kind]], value)
            headroom.add_metric(labels, budget.headroom)
            waiting.add_metric(labels, budget.reservations)
            wait.add_metric(labels, budget.reserved_wait)
            for count, value in budget.reported_remaining.items():
                remaining.add_metric([*labels, count], value)
            if budget.reported_age is not None:
                age.add_metric(labels, budget.reported_age)
        yield from (limit, used, headroom, waiting, wait, remaining, age)

    def _keys(self, now):
        figures = pool.key_figures(now=now)
        status = GaugeMetricFamily(
            "cosmosquest_pool_status", "1 for the pool's state as /api/status says it (ok, degraded, down).",
            labels=["status"])
        for name in STATUSES:
            status.add_metric([name], 1 if figures.status == name else 0)
        keys = GaugeMetricFamily(
            "cosmosquest_pool_keys", "Keys by state for their provider's default model.", labels=["provider", "state"])
        for provider, states in sorted(figures.states.items()):
            for state, n in states.items():
                keys.add_metric([provider, state], n)
        disabled = GaugeMetricFamily(
            "cosmosquest_pool_keys_disabled", "Disabled keys by why: admin, auth (refused by the provider), "
            "undecryptable.", labels=["provider", "reason"])
        for provider in sorted(figures.states):
            for reason in ("admin", "auth", "undecryptable"):
                disabled.add_metric([provider, reason], figures.disabled.get((provider, reason), 0))
        yield from (status, keys, disabled)

    def _cooldowns(self, now):
        active = GaugeMetricFamily(
            "cosmosquest_pool_cooldowns", "Active cooldowns (model \"\" = every model; scope key or organization).",
            labels=[*BUDGET, "reason", "scope"])
        longest = GaugeMetricFamily(
            "cosmosquest_pool_cooldown_remaining_seconds", "Seconds until the latest of those cooldowns ends.",
            labels=[*BUDGET, "reason", "scope"])
        for row in pool.cooldown_figures(now=now):
            labels = [row.provider, row.organization, row.model, row.reason, row.scope]
            active.add_metric(labels, row.active)
            longest.add_metric(labels, row.longest)
        yield from (active, longest)

    def _usage(self, now):
        attempts = CounterMetricFamily(
            "cosmosquest_pool_attempts", "Attempts sent to the provider, by how they ended (every attempt "
            "was admitted by a budget first).", labels=[*BUDGET, "outcome"])
        admissions = CounterMetricFamily(
            "cosmosquest_pool_admissions", "Attempts the budgets admitted (sent or about to be).", labels=BUDGET)
        calls = CounterMetricFamily(
            "cosmosquest_pool_calls", "Logical calls whose first attempt went to this budget.", labels=BUDGET)
        tokens = CounterMetricFamily(
            "cosmosquest_pool_tokens", "Tokens the provider reported.", labels=[*BUDGET, "type"])
        openai = CounterMetricFamily(
            "cosmosquest_pool_openai_fallbacks", "Calls served by OpenAI keys because no Groq key could serve.",
            labels=BUDGET)
        for (provider, organization, model), stats in sorted(pool.usage_totals(now=now).items()):
            labels = [provider, organization, model]
            for outcome, n in _outcomes(stats).items():
                attempts.add_metric([*labels, outcome], n)
            admissions.add_metric(labels, stats.attempts)
            calls.add_metric(labels, stats.calls)
            tokens.add_metric([*labels, "prompt"], stats.prompt_tokens)
            tokens.add_metric([*labels, "completion"], stats.completion_tokens)
            if stats.openai_fallbacks:
                openai.add_metric(labels, stats.openai_fallbacks)
        yield from (attempts, admissions, calls, tokens, openai)

    def _events(self):
        refusals = CounterMetricFamily(
            "cosmosquest_pool_refusals", "429s from the provider by the limit the body named (\"\" when none).",
            labels=[*BUDGET, "limit"])
        exhausted = CounterMetricFamily(
            "cosmosquest_pool_exhausted", "Calls that raised PoolExhausted (no key could serve within the "
            "wait budget).", labels=["provider", "model"])
        # Present from the first scrape (at 0), so that alert rules and rate() see the series.
        exhausted_seen = False
        for row in pool.event_totals():
            if row.event == "refused":
                refusals.add_metric([row.provider, row.organization, row.model, row.detail], row.count)
            elif row.event == "exhausted":
                exhausted.add_metric([row.provider, row.model], row.count)
                exhausted_seen = True
        if not exhausted_seen:
            from keymanager.conf import pool_settings

            exhausted.add_metric(["groq", pool_settings().default_model], 0)
        yield from (refusals, exhausted)


def _outcomes(stats: Stats) -> dict[str, int]:
    return {
        Outcome.SUCCESS.value: stats.successes,
        Outcome.RATE_LIMITED.value: stats.rate_limited,
        "failed": stats.errors,
        Outcome.PENDING.value: stats.pending,
    }


class GameCollector(Collector):
    def collect(self):
        from quests import metrics as game

        launches = CounterMetricFamily(
            "cosmosquest_game_launches", "Missions handed to players, by where the mission came from "
            "(live, buffer, archive) and, for the archive, why.", labels=["source", "fallback_reason"])
        counts = game.launch_counts()
        for source in ("live", "buffer", "archive"):
            if not any(s == source for s, _ in counts):
                launches.add_metric([source, ""], 0)
        for (source, reason), n in sorted(counts.items()):
            launches.add_metric([source, reason], n)
        curated = CounterMetricFamily(
            "cosmosquest_pool_curated_fallbacks", "Missions served from the curated archive when the pool could not "
            "serve a live one (every archive launch).", labels=[])
        curated.add_metric([], sum(n for (source, _), n in counts.items() if source == "archive"))
        histogram = game.live_wait_histogram()
        wait = HistogramMetricFamily(
            "cosmosquest_game_live_wait_seconds", "How long players waited for the live missions they got.",
            labels=[])
        buckets = [(_le(bound), count) for bound, count in histogram.buckets] + [("+Inf", histogram.count)]
        wait.add_metric([], buckets, sum_value=histogram.total_seconds)
        yield from (launches, curated, wait)


def _le(bound: float) -> str:
    return str(float(bound)) if not math.isinf(bound) else "+Inf"


class ClusterCollector(Collector):
    def collect(self):
        from django_q.brokers import get_broker

        up = GaugeMetricFamily("cosmosquest_cluster_up", "django-q2 clusters that saved a heartbeat lately.",
                               labels=[])
        workers = GaugeMetricFamily("cosmosquest_cluster_workers", "Worker processes of those clusters.", labels=[])
        queued = GaugeMetricFamily("cosmosquest_cluster_queued_tasks", "Tasks waiting in the broker.", labels=[])
        stats = cluster_heartbeats()
        up.add_metric([], len(stats))
        workers.add_metric([], sum(len(getattr(stat, "workers", []) or []) for stat in stats))
        queued.add_metric([], get_broker().queue_size() or 0)
        yield from (up, workers, queued)
