"""Anonymous traffic against the quota: 200 fresh guest sessions launch missions in 20 s (issue 11).

    .venv/bin/python bench/guest_abuse.py                     # one client address
    .venv/bin/python bench/guest_abuse.py --addresses 200     # every session from its own address
    .venv/bin/python bench/guest_abuse.py --broker redis      # limits counted in Redis

The production-like instance of bench/live_load.py (gunicorn, the django-q2 cluster, PostgreSQL,
the stand-in with 4 organizations and 2 s per completion, prefetch off) with the shipped limits
(QUESTS_LIVE_RATE_GUEST 5/h, QUESTS_LIVE_RATE_ADDRESS 20/h, QUESTS_GUEST_MIN_HEADROOM 0.5)
unless --set changes them. Each session is a new client without cookies: it opens a quest page
and launches. Prints the completions the stand-in served and how every launch was served.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live_load import CSRF, instance, manage  # noqa: E402

REASONS_SQL = """
import json
from django.db.models import Count
from quests.models import QuestRun
print(json.dumps([[s, r or "-", n] for s, r, n in QuestRun.objects.values_list("source", "fallback_reason")
                  .annotate(n=Count("id")).order_by("source", "fallback_reason")]))
"""


def guest_launch(base: str, number: int, address: str, failures: Counter, lock: threading.Lock) -> None:
    # A fresh session: a new client, so no cookie survives from one launch to the next.
    with httpx.Client(base_url=base, timeout=30, headers={"X-Forwarded-For": address}) as client:
        page = client.get(f"/quest/{number}/")
        token = CSRF.search(page.text)
        response = client.post(f"/quest/{number}/launch", data={"csrfmiddlewaretoken": token.group(1) if token else ""})
        if response.status_code != 302 or not re.search(r"/run/\d+/", response.headers.get("location", "")):
            with lock:
                failures[response.status_code] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--addresses", type=int, default=1, help="client addresses the sessions come from")
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--web-port", type=int, default=8100)
    parser.add_argument("--stub-port", type=int, default=8910)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="extra environment")
    args = parser.parse_args()

    extra = dict(item.split("=", 1) for item in args.set)
    with instance(broker=args.broker, redis_url=args.redis_url, orgs=4, latency=2.0, web_port=args.web_port,
                  stub_port=args.stub_port, db_name="cosmosquest_async_abuse", **extra) as site:
        failures: Counter = Counter()
        lock = threading.Lock()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=16) as pool:
            for i in range(args.sessions):
                # Evenly spread over the period, as a script would send them.
                time.sleep(max(0.0, started + i * args.seconds / args.sessions - time.monotonic()))
                address = f"10.{(i % args.addresses) // 250}.{(i % args.addresses) % 250}.7"
                pool.submit(guest_launch, site.base, 1 + i % 5, address, failures, lock)
        sent_in = time.monotonic() - started
        time.sleep(15)  # every queued live mission is written or has fallen back by now
        stats = site.stub_stats()
        served = [tuple(row) for row in json.loads(
            manage("shell", "-c", REASONS_SQL, env=site.env, capture=True).strip().splitlines()[-1])]
    completions = stats["by_status"].get("200", 0)
    rate = extra.get("QUESTS_LIVE_RATE_ADDRESS", "20/h")
    print(f"\n{args.sessions} fresh guest sessions from {args.addresses} address(es) in {sent_in:.1f} s, broker {args.broker}")
    print(f"completions served by the stand-in: {completions} (requests {stats['requests']}, by status {stats['by_status']})")
    print(f"configured: {rate} per address, {extra.get('QUESTS_LIVE_RATE_GUEST', '5/h')} per session, guests stop at "
          f"{extra.get('QUESTS_GUEST_MIN_HEADROOM', '0.5')} headroom")
    print("launches served:", ", ".join(f"{source}/{reason}: {n}" for source, reason, n in served))
    if failures:
        print("failed launches:", dict(failures))


if __name__ == "__main__":
    main()
