"""Writes deploy/grafana/cosmosquest.json, the Grafana dashboard of CosmosQuest (run it after
editing the panels here: `python deploy/grafana/build_dashboard.py`). Import the JSON in Grafana
(Dashboards > Import) and pick the Prometheus data source that scrapes every host's /metrics.

The pool's and the game's series read the shared database, so every host reports the same
values: panels take `max without (instance)` of them; per-process histograms are summed."""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("cosmosquest.json")
DS = {"type": "prometheus", "uid": "${datasource}"}
ONE = "max without (instance)"


def panel(title, exprs, *, x, y, w=12, h=8, kind="timeseries", unit="short", legend="", description=""):
    targets = [
        {"datasource": DS, "expr": expr, "legendFormat": fmt or legend, "refId": chr(ord("A") + i)}
        for i, (expr, fmt) in enumerate(exprs)
    ]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom"}} if kind == "timeseries" else {},
        "targets": targets,
    }


PANELS = [
    panel("Pool status", [(f'{ONE} (cosmosquest_pool_status) == 1', "{{status}}")], x=0, y=0, w=6, h=4,
          kind="stat", description="ok / degraded / down, as /api/status says it."),
    panel("Keys by state", [(f"{ONE} (cosmosquest_pool_keys)", "{{provider}} {{state}}")], x=6, y=0, w=6, h=4,
          kind="stat"),
    panel("Keys refused by the provider", [(f'{ONE} (cosmosquest_pool_keys_disabled{{reason="auth"}})', "{{provider}}")],
          x=12, y=0, w=6, h=4, kind="stat"),
    panel("Cluster", [(f"{ONE} (cosmosquest_cluster_up)", "clusters up"),
                      (f"{ONE} (cosmosquest_cluster_queued_tasks)", "queued tasks")], x=18, y=0, w=6, h=4, kind="stat"),
    panel("Calls served and refused per minute",
          [(f'sum by (outcome) ({ONE} (rate(cosmosquest_pool_attempts_total[5m]))) * 60', "{{outcome}}"),
           (f"sum by (model) ({ONE} (rate(cosmosquest_pool_exhausted_total[5m]))) * 60", "PoolExhausted {{model}}"),
           (f"sum ({ONE} (rate(cosmosquest_pool_openai_fallbacks_total[5m]))) * 60", "served by OpenAI"),
           (f"sum ({ONE} (rate(cosmosquest_pool_curated_fallbacks_total[5m]))) * 60", "archive (curated)")],
          x=0, y=4, unit="short"),
    panel("Refusals (429) per 100 served",
          [(f'100 * sum by (organization) ({ONE} (increase(cosmosquest_pool_attempts_total{{outcome="rate_limited"}}[15m])))'
            f' / clamp_min(sum by (organization) ({ONE} (increase(cosmosquest_pool_attempts_total{{outcome="success"}}[15m]))), 1)',
            "{{organization}}"),
           (f"sum by (limit) ({ONE} (increase(cosmosquest_pool_refusals_total[15m])))", "429s naming {{limit}} (15 min)")],
          x=12, y=4),
    panel("Headroom per organization (0-1)", [(f"{ONE} (cosmosquest_pool_headroom_ratio)", "{{organization}} {{model}}")],
          x=0, y=12, unit="percentunit"),
    panel("Budget used against its limit",
          [(f"{ONE} (cosmosquest_pool_budget_used) / on (provider, organization, model, kind) group_left "
            f"max without (instance, source) (cosmosquest_pool_limit)", "{{organization}} {{kind}}")],
          x=12, y=12, unit="percentunit",
          description="Minute for rpm/tpm, day for rpd/tpd; 1 = at the limit."),
    panel("Limits and where they come from", [(f"{ONE} (cosmosquest_pool_limit)", "{{organization}} {{kind}} ({{source}})")],
          x=0, y=20, kind="table"),
    panel("Reservations waiting and the wait they hold",
          [(f"{ONE} (cosmosquest_pool_reservations)", "{{organization}} calls waiting"),
           (f"{ONE} (cosmosquest_pool_reservation_wait_seconds)", "{{organization}} wait (s)")], x=12, y=20),
    panel("Cooldowns", [(f"{ONE} (cosmosquest_pool_cooldowns)", "{{organization}} {{model}} {{reason}} ({{scope}})")],
          x=0, y=28),
    panel("complete() latency (p50, p95, p99, every process)",
          [(f'histogram_quantile({q}, sum by (le) (rate(cosmosquest_pool_complete_seconds_bucket{{result="served"}}[5m])))',
            f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)], x=12, y=28, unit="s"),
    panel("Launches by source per minute",
          [(f"sum by (source) ({ONE} (rate(cosmosquest_game_launches_total[5m]))) * 60", "{{source}}")], x=0, y=36),
    panel("Wait for a live mission (p50, p95)",
          [(f"histogram_quantile({q}, {ONE} (rate(cosmosquest_game_live_wait_seconds_bucket[10m])))", f"p{int(q * 100)}")
           for q in (0.5, 0.95)], x=12, y=36, unit="s"),
    panel("Web requests p99 by route",
          [('histogram_quantile(0.99, sum by (le, route) (rate(cosmosquest_http_request_seconds_bucket[5m])))',
            "{{route}}")], x=0, y=44, w=24, unit="s"),
]

DASHBOARD = {
    "title": "CosmosQuest: key pool and game",
    "uid": "cosmosquest",
    "tags": ["cosmosquest"],
    "timezone": "utc",
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]},
    "panels": [dict(p, id=i + 1) for i, p in enumerate(PANELS)],
}

if __name__ == "__main__":
    OUT.write_text(json.dumps(DASHBOARD, indent=2) + "\n")
    print(f"wrote {OUT}")
