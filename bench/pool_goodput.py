"""Goodput of the key pool against the organizations' capacity, beside two baselines.

Starts the Groq stand-in with 4 organizations (one key each) at Groq's free-tier limits for
openai/gpt-oss-20b (30 RPM, 1,000 RPD, 8,000 TPM) in real 60-second windows, and an
OpenAI-compatible stand-in with one key. Then, for each load (a share of the pool's capacity)
and each system, drives Poisson arrivals from several OS processes (threads inside each):

- pool:       keymanager.services.complete(), the project's key pool
- sdk-1key:   one key through the groq SDK with its default retries
- roundrobin: the 4 keys in turn through the groq SDK (max_retries=0), next key on a 429
- litellm:    LiteLLM's Router over the 4 keys, only if litellm is installed (not a dependency)

Each (system, load) run gets a fresh stand-in (fresh budgets) and, for the pool, a fresh
database. Run:

    .venv/bin/python bench/pool_goodput.py                       # PostgreSQL, 180 s per run
    .venv/bin/python bench/pool_goodput.py --db sqlite --duration 60 --loads 0.9
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import random
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, percentile, setup_django  # noqa: E402

MODEL = "openai/gpt-oss-20b"
LIMITS = {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}
ORGS = 4
MAX_TOKENS = 200
OPENAI_MODEL = "gpt-4o-mini"


def prompt(i: int) -> list[dict]:
    return [
        {"role": "system", "content": "You write one-line space mission briefings."},
        {"role": "user", "content": f"Mission {i}: a short briefing about a moon of Saturn."},
    ]


# ---------------------------------------------------------------------------------------
# Driver processes


def drive(system: str, rate: float, duration: float, threads: int, start_at: float, keys: list[str], seed: int):
    """Poisson arrivals at `rate` per second for `duration`; returns one record per call."""
    caller = make_caller(system, keys)
    rng = random.Random(seed)
    arrivals, t = [], rng.expovariate(rate)
    while t < duration:
        arrivals.append(t)
        t += rng.expovariate(rate)
    records: list[tuple[float, float, str]] = []
    lock = threading.Lock()

    def one(i: int, arrival: float) -> None:
        try:
            outcome = caller(i)
        except Exception as exc:  # every other exception is a finding, counted by name
            outcome = "other:" + type(exc).__name__
        with lock:
            records.append((arrival, time.time() - start_at, outcome))

    while time.time() < start_at:
        time.sleep(0.005)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, arrival in enumerate(arrivals):
            delay = start_at + arrival - time.time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, seed * 100000 + i, arrival)
    return records


def make_caller(system: str, keys: list[str]):
    base_url = os.environ["GROQ_BASE_URL"]
    if system == "pool":
        setup_django()
        from keymanager.services import PoolExhausted, complete

        def call(i: int) -> str:
            try:
                return complete(messages=prompt(i), max_tokens=MAX_TOKENS, purpose="bench").provider
            except PoolExhausted:
                return "exhausted"

        return call

    import groq

    if system == "sdk-1key":
        client = groq.Groq(api_key=keys[0], base_url=base_url)  # the SDK's defaults: 2 retries

        def call(i: int) -> str:
            try:
                client.chat.completions.create(model=MODEL, messages=prompt(i), max_completion_tokens=MAX_TOKENS)
                return "groq"
            except groq.RateLimitError:
                return "exhausted"

        return call

    if system == "roundrobin":
        clients = [groq.Groq(api_key=k, base_url=base_url, max_retries=0) for k in keys]
        turn = itertools.count()
        turn_lock = threading.Lock()

        def call(i: int) -> str:
            with turn_lock:
                first = next(turn)
            for j in range(len(clients)):
                try:
                    clients[(first + j) % len(clients)].chat.completions.create(
                        model=MODEL, messages=prompt(i), max_completion_tokens=MAX_TOKENS
                    )
                    return "groq"
                except groq.RateLimitError:
                    continue
            return "exhausted"

        return call

    if system == "litellm":
        from litellm import Router

        router = Router(
            model_list=[
                {"model_name": "m", "litellm_params": {"model": f"groq/{MODEL}", "api_key": k, "api_base": base_url + "/openai/v1"}}
                for k in keys
            ],
            routing_strategy="simple-shuffle",
            num_retries=3,
        )

        def call(i: int) -> str:
            try:
                router.completion(model="m", messages=prompt(i), max_tokens=MAX_TOKENS)
                return "groq"
            except Exception as exc:
                if "RateLimit" in type(exc).__name__:
                    return "exhausted"
                raise

        return call
    raise SystemExit(f"unknown system {system}")


# ---------------------------------------------------------------------------------------
# One run


def run_once(system: str, load: float, args) -> dict:
    from keymanager.testing.groqstub import GroqStub, make_key

    org_keys = {f"org_{n}": [make_key()] for n in range(1, ORGS + 1)}
    stub = GroqStub(
        orgs={org: {"keys": keys, "limits": {MODEL: LIMITS}} for org, keys in org_keys.items()},
        latency=args.latency,
        seed=1,
    ).start()
    openai_key = make_key("openai")
    ostub = GroqStub(
        orgs={"openai_org": {"keys": [openai_key]}},
        flavor="openai",
        models=[OPENAI_MODEL],
        default_limits={OPENAI_MODEL: {"rpm": 100000, "rpd": 10**7, "tpm": 10**8, "tpd": 10**9}},
        latency=args.latency,
    ).start()
    os.environ["GROQ_BASE_URL"] = stub.url
    os.environ["OPENAI_BASE_URL"] = ostub.openai_base_url
    keys = [k for ks in org_keys.values() for k in ks]
    if system == "pool":
        create_database(args.db)
        add_keys(org_keys, openai_key if args.openai else None)

    capacity = ORGS * LIMITS["rpm"] / 60.0
    rate = load * capacity
    start_at = time.time() + 4.0  # time for the workers to start Django
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.procs) as procs:
        parts = procs.starmap(
            drive,
            [(system, rate / args.procs, args.duration, args.threads, start_at, keys, 1 + p) for p in range(args.procs)],
        )
    records = [r for part in parts for r in part]
    stats, ostats = stub.stats(), ostub.stats()
    stub.stop()
    ostub.stop()
    return summarize(system, load, records, stats, ostats, capacity, args.duration)


def add_keys(org_keys: dict[str, list[str]], openai_key: str | None) -> None:
    setup_django()
    from django.db import connections

    from keymanager.models import Limit
    from keymanager.services.keys import key_add

    for org, keys in org_keys.items():
        for key in keys:
            key_add(provider="groq", name=f"{org}-key", secret=key, organization=org)
        Limit.objects.update_or_create(provider="groq", organization=org, model=MODEL, defaults=LIMITS)
    if openai_key:
        key_add(provider="openai", name="openai", secret=openai_key, organization="openai_org")
    connections.close_all()


def summarize(system, load, records, stats, ostats, capacity, duration) -> dict:
    outcomes = Counter(outcome for _, _, outcome in records)
    latencies = [end - arrival for arrival, end, _ in records]
    served_groq = outcomes.get("groq", 0)
    per_key = [v["by_status"].get("200", 0) for v in stats["by_key"].values()]
    mean = sum(per_key) / len(per_key) if per_key else 0
    other = sum(n for name, n in outcomes.items() if name.startswith("other:"))
    return {
        "system": system,
        "load": load,
        "requests": len(records),
        "groq": served_groq,
        "openai": outcomes.get("openai", 0),
        "exhausted": outcomes.get("exhausted", 0),
        "other": other,
        "other_kinds": {k: v for k, v in outcomes.items() if k.startswith("other:")},
        "r429": stats["by_status"].get("429", 0),
        "refused_per_100": 100 * stats["by_status"].get("429", 0) / max(1, served_groq),
        "groq_share_of_calls": served_groq / max(1, len(records)),
        "capacity_used": served_groq / (capacity * duration),
        "key_spread": (max(per_key) / max(1, min(per_key))) if per_key else float("nan"),
        "key_dev": max(abs(n - mean) / mean for n in per_key) if mean else float("nan"),
        "over_budget": stats["over_budget"],
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max_latency": max(latencies) if latencies else float("nan"),
        "timeline": [(round(end, 2), outcome) for _, end, outcome in records],
    }


# ---------------------------------------------------------------------------------------


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'system':11} {'load':>5} {'calls':>6} {'groq':>5} {'openai':>6} {'exhst':>5} {'other':>5} {'429s':>5} "
        f"{'429/100':>7} {'groq%':>6} {'cap%':>6} {'spread':>6} {'dev%':>5} {'p50 s':>6} {'p95 s':>6} {'p99 s':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['system']:11} {r['load']:>5.0%} {r['requests']:>6} {r['groq']:>5} {r['openai']:>6} "
            f"{r['exhausted']:>5} {r['other']:>5} {r['r429']:>5} {r['refused_per_100']:>7.2f} "
            f"{r['groq_share_of_calls']:>6.1%} {r['capacity_used']:>6.1%} {r['key_spread']:>6.2f} "
            f"{r['key_dev']:>5.0%} {r['p50']:>6.2f} {r['p95']:>6.2f} {r['p99']:>6.2f}"
        )


def plot(rows: list[dict], path: str, duration: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot; pip install matplotlib)")
        return
    fig, axes = plt.subplots(len(rows), 1, figsize=(10, 2.2 * len(rows)), sharex=True)
    for ax, row in zip(axes if len(rows) > 1 else [axes], rows, strict=True):
        seconds = int(math.ceil(duration)) + 30
        served = [0] * seconds
        refused = [0] * seconds
        for end, outcome in row["timeline"]:
            idx = min(seconds - 1, int(end))
            (served if outcome == "groq" else refused)[idx] += 1
        ax.plot(served, label="served by Groq", lw=0.8)
        ax.plot(refused, label="not served by Groq", lw=0.8)
        ax.set_title(f"{row['system']} at {row['load']:.0%} load", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
    axes_list = axes if len(rows) > 1 else [axes]
    axes_list[-1].set_xlabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--duration", type=float, default=180.0, help="seconds per run (default 180)")
    parser.add_argument("--loads", default="0.5,0.9,1.5", help="shares of capacity (default 0.5,0.9,1.5)")
    parser.add_argument("--systems", default="pool,sdk-1key,roundrobin", help="add litellm if installed")
    parser.add_argument("--procs", type=int, default=4, help="driver OS processes (default 4)")
    parser.add_argument("--threads", type=int, default=48, help="threads per process (default 48)")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in reply latency, seconds")
    parser.add_argument("--no-openai", dest="openai", action="store_false", help="no OpenAI key in the pool")
    parser.add_argument("--json", help="write all results to this file")
    parser.add_argument("--plot", help="write a PNG plot (needs matplotlib)")
    args = parser.parse_args()

    configure_environment(args.db)
    loads = [float(x) for x in args.loads.split(",")]
    systems = args.systems.split(",")
    if "litellm" in systems:
        try:
            import litellm  # noqa: F401
        except ImportError:
            print("litellm is not installed: skipping that baseline")
            systems.remove("litellm")
    rows = []
    for load in loads:
        for system in systems:
            print(f"... {system} at {load:.0%} for {args.duration:.0f}s", flush=True)
            rows.append(run_once(system, load, args))
    print(f"\n{ORGS} organizations x 1 key, {LIMITS['rpm']} RPM / {LIMITS['tpm']} TPM each, "
          f"{args.duration:.0f} s per run, {args.procs} processes, db={args.db}, cores={os.cpu_count()}")
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps([{k: v for k, v in r.items() if k != "timeline"} for r in rows], indent=2))
    if args.plot:
        plot(rows, args.plot, args.duration)


if __name__ == "__main__":
    main()
