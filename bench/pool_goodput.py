"""Goodput of the key pool against the best physically possible, beside baselines.

For each scenario and load, Poisson arrivals are drawn once and replayed against every system
from several OS processes (threads inside each), each system against a fresh Groq stand-in
with 4 organizations. Printed for each run, beside what the system served: the earliest-slot
ideal for the same arrivals, i.e. each call served in arrival order at the first moment some
organization's true limiter (the stand-in's own code, on a virtual clock) has room, if that
moment lies within the same wait budget.

Scenarios (the pool is told nothing unless the scenario says so):
- told:      stand-in at Groq's free tier (30 RPM, 8,000 TPM, 1,000 RPD), sliding windows; the
             pool and every baseline are given those limits (ceilings / rpm+tpm).
- learned:   stand-in at 45 RPM / 12,000 TPM / 2,000 RPD, sliding windows; the pool is told
             nothing (no Limit rows: it starts from the shipped guesses and learns).
- bucket:    as `learned`, but the stand-in counts with token buckets.
- orgs:      as `learned`, with 2 keys in each organization; the pool imports the 8 keys
             without organizations (each assumed its own) and must find out.
- day:       2 organizations whose requests per day bind: 30 per "day" of 120 s, refilled
             continuously as Groq's are (rolling minutes, refilling days), truthful headers;
             480 s of arrivals. The pool is told neither the limit nor the day's length.
- day-rolling: as `day`, but the stand-in counts its day as a rolling window (another
             provider's algorithm, never described to the pool).
- tier:      as `learned`, and halfway through every limit of every organization triples
             (an upgrade; the headers say so). Measured from 30 s after the change.
- clocks:    as `told` at 150 %, each driving process's clock off by -1.5, -0.5, +0.5, +1.5 s
             (time.time() shifted in that process: another host's clock).

Systems (same keys, same arrivals, no fallback unless --openai):
- pool:             keymanager.services.complete()
- litellm-ubr2:     LiteLLM Router, usage-based-routing-v2 (rpm/tpm set, usage shared in Redis)
- litellm-shuffle:  LiteLLM Router, simple-shuffle (rpm/tpm set)
- roundrobin:       the keys in turn (groq SDK, max_retries=0); next key on a 429, and when
                    every key is refused, waits for the earliest retry-after within the budget
- sdk-1key:         one key through the groq SDK with its default retries

    .venv/bin/python bench/pool_goodput.py                       # everything, PostgreSQL, 90 s runs
    .venv/bin/python bench/pool_goodput.py --scenarios told --loads 1.5 --systems pool,roundrobin
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
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
OPENAI_MODEL = "gpt-4o-mini"
ORGS = 4
MAX_TOKENS = 200
WAIT_BUDGET = 20.0
LEARNED = {"rpm": 45, "rpd": 2000, "tpm": 12000, "tpd": 200000}
DAY_BOUND = {"rpm": 45, "rpd": 30, "tpm": 12000, "tpd": 10**7}
SCENARIOS = {
    "told": {"limits": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}, "limiter": "rolling",
             "keys_per_org": 1, "tell": True},
    "learned": {"limits": LEARNED, "limiter": "rolling", "keys_per_org": 1, "tell": False},
    "bucket": {"limits": LEARNED, "limiter": "bucket", "keys_per_org": 1, "tell": False},
    "orgs": {"limits": LEARNED, "limiter": "rolling", "keys_per_org": 2, "tell": False},
    "day": {"limits": DAY_BOUND, "limiter": "mixed", "keys_per_org": 1, "tell": False, "orgs": 2,
            "day_seconds": 120.0, "duration": 480.0},
    "day-rolling": {"limits": DAY_BOUND, "limiter": "rolling", "keys_per_org": 1, "tell": False, "orgs": 2,
                    "day_seconds": 120.0, "duration": 480.0},
    "tier": {"limits": LEARNED, "limiter": "rolling", "keys_per_org": 1, "tell": False, "tier_change": (0.5, 3),
             "duration": 180.0},
    "clocks": {"limits": {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}, "limiter": "rolling",
               "keys_per_org": 1, "tell": True, "clock_offsets": (-1.5, -0.5, 0.5, 1.5)},
}


def capacity_of(scenario: dict) -> float:
    """Calls per second the organizations can take at most, by their binding limit (after a tier
    change, the new one)."""
    limits = scenario["limits"]
    factor = scenario["tier_change"][1] if scenario.get("tier_change") else 1
    per_org = limits["rpm"] / 60.0
    if scenario.get("day_seconds"):  # a day short enough to bind within the run
        per_org = min(per_org, limits["rpd"] / scenario["day_seconds"])
    per_org *= factor
    return scenario.get("orgs", ORGS) * per_org


def prompt(i: int) -> list[dict]:
    return [
        {"role": "system", "content": "You write one-line space mission briefings."},
        {"role": "user", "content": f"Mission {i}: a short briefing about a moon of Saturn."},
    ]


def arrivals_for(rate: float, duration: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    times, t = [], rng.expovariate(rate)
    while t < duration:
        times.append(t)
        t += rng.expovariate(rate)
    return times


# ---------------------------------------------------------------------------------------
# The earliest-slot ideal


def earliest_slot_ideal(arrivals: list[float], scenario: dict, budget: float, latency: float,
                        change_at: float | None = None) -> dict:
    """Serve each call in arrival order at the first moment an organization's true limiter
    admits it, if within `budget` of its arrival: the most any key pool could serve. The
    stand-in's own limiter code, its "day", and its tier change at `change_at`."""
    from keymanager.testing.groqstub.limits import LIMITERS, prompt_tokens

    limiter = LIMITERS[scenario["limiter"]]
    day = scenario.get("day_seconds") or 86400.0
    orgs = [limiter(dict(scenario["limits"]), 60.0, day) for _ in range(scenario.get("orgs", ORGS))]
    served, waits, flags = 0, [], []
    changed = False
    for i, arrival in enumerate(arrivals):
        if change_at is not None and not changed and arrival >= change_at:
            factor = scenario["tier_change"][1]
            for org in orgs:
                org.set_limits({k: v * factor for k, v in scenario["limits"].items()})
            changed = True
        asked = prompt_tokens(prompt(i))
        best = None
        for org in orgs:
            # Look ahead on a copy: a limiter forgets what lies behind the moment it is asked about.
            probe, t = copy.deepcopy(org), arrival
            for _ in range(1000):
                refusal = probe.check(t, asked, MAX_TOKENS)
                if refusal is None:
                    break
                t += max(refusal.wait, 1e-3)
            if t - arrival <= budget and (best is None or t < best[0]):
                best = (t, org)
        if best is not None:
            t, org = best
            entry = org.admit(t, asked, MAX_TOKENS)
            # Generous to the ideal: the reservation shrinks at once to a typical reply's total.
            org.settle(entry, asked, 60)
            served += 1
            waits.append(t - arrival + latency)
        flags.append(best is not None)
    return {"served": served, "p95_wait": percentile(waits, 0.95) if waits else float("nan"), "flags": flags}


# ---------------------------------------------------------------------------------------
# Driver processes


def drive(system: str, arrivals: list[tuple[int, float]], threads: int, start_at: float, keys: list[str],
          limits: dict, clock_offset: float = 0.0) -> list[tuple[float, float, str]]:
    """Fire the calls at their arrival times; one record (arrival, end, outcome) per call. With a
    `clock_offset`, this process's time.time() runs that many seconds off (another host's clock);
    the schedule keeps to the true one."""
    real_time = time.time
    if clock_offset:
        time.time = lambda: real_time() + clock_offset
    caller = make_caller(system, keys, limits)
    if system == "pool":
        # Warm as a long-running worker would be: modules imported, database connected.
        import groq  # noqa: F401
        from django.db import connection

        connection.ensure_connection()
    records: list[tuple[float, float, str]] = []
    lock = threading.Lock()

    def one(i: int, arrival: float) -> None:
        try:
            outcome = caller(i)
        except Exception as exc:  # every other exception is a finding, counted by name
            outcome = "other:" + type(exc).__name__
        with lock:
            records.append((arrival, real_time() - start_at, outcome))

    while real_time() < start_at:
        time.sleep(0.005)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for i, arrival in arrivals:
            delay = start_at + arrival - real_time()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, arrival)
    if system == "pool":
        from django.db import connections

        connections.close_all()
    return records


def make_caller(system: str, keys: list[str], limits: dict):
    base_url = os.environ["GROQ_BASE_URL"]
    if system == "pool":
        setup_django()
        from keymanager.services import PoolExhausted, complete

        def call(i: int) -> str:
            try:
                return str(complete(messages=prompt(i), max_tokens=MAX_TOKENS, purpose="bench").provider)
            except PoolExhausted:
                return "exhausted"

        return call

    import groq

    if system == "sdk-1key":
        client = groq.Groq(api_key=keys[0], base_url=base_url, timeout=WAIT_BUDGET)  # the SDK's 2 retries

        def call(i: int) -> str:
            try:
                client.chat.completions.create(model=MODEL, messages=prompt(i), max_completion_tokens=MAX_TOKENS)
                return "groq"
            except groq.RateLimitError:
                return "exhausted"

        return call

    if system == "roundrobin":
        clients = [groq.Groq(api_key=k, base_url=base_url, max_retries=0, timeout=WAIT_BUDGET) for k in keys]
        turn = itertools.count()
        shared = threading.Lock()
        retry_at = [0.0] * len(clients)

        def call(i: int) -> str:
            deadline = time.time() + WAIT_BUDGET
            with shared:
                first = next(turn)
            while True:
                now = time.time()
                for j in range(len(clients)):
                    k = (first + j) % len(clients)
                    if retry_at[k] > now:
                        continue
                    try:
                        clients[k].chat.completions.create(
                            model=MODEL, messages=prompt(i), max_completion_tokens=MAX_TOKENS
                        )
                        return "groq"
                    except groq.RateLimitError as exc:
                        wait = float(exc.response.headers.get("retry-after") or 1)
                        retry_at[k] = time.time() + wait
                soonest = min(retry_at)
                if soonest > deadline:
                    return "exhausted"
                time.sleep(max(0.0, soonest - time.time()))

        return call

    if system.startswith("litellm"):
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm
        from litellm import Router

        litellm.suppress_debug_info = True
        strategy = "usage-based-routing-v2" if system == "litellm-ubr2" else "simple-shuffle"
        extra = {"redis_host": "127.0.0.1", "redis_port": 6379} if strategy == "usage-based-routing-v2" else {}
        router = Router(
            model_list=[
                {
                    "model_name": "m",
                    "litellm_params": {"model": f"groq/{MODEL}", "api_key": k, "api_base": base_url + "/openai/v1",
                                       "rpm": limits["rpm"], "tpm": limits["tpm"]},
                }
                for k in keys
            ],
            routing_strategy=strategy,
            num_retries=3,
            timeout=WAIT_BUDGET,
            **extra,
        )

        def call(i: int) -> str:
            try:
                router.completion(model="m", messages=prompt(i), max_tokens=MAX_TOKENS)
                return "groq"
            except Exception as exc:
                if "RateLimit" in type(exc).__name__ or "No deployments available" in str(exc):
                    return "exhausted"
                raise

        return call
    raise SystemExit(f"unknown system {system}")


# ---------------------------------------------------------------------------------------
# One run


def run_once(system: str, scenario_name: str, load: float, args) -> dict:
    from keymanager.testing.groqstub import GroqStub, make_key

    scenario = SCENARIOS[scenario_name]
    limits = scenario["limits"]
    orgs = scenario.get("orgs", ORGS)
    duration = scenario.get("duration") or args.duration
    org_keys = {f"org_{n}": [make_key() for _ in range(scenario["keys_per_org"])] for n in range(1, orgs + 1)}
    stub = GroqStub(
        orgs={org: {"keys": keys, "limits": {MODEL: limits}} for org, keys in org_keys.items()},
        latency=args.latency,
        limiter=scenario["limiter"],
        day_seconds=scenario.get("day_seconds"),
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
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as helper:  # Django's settings are read once per process
            helper.apply(add_keys, (org_keys, openai_key if args.openai else None, scenario))

    arrivals = arrivals_for(load * capacity_of(scenario), duration, seed=args.seed)
    change_at = duration * scenario["tier_change"][0] if scenario.get("tier_change") else None
    ideal = earliest_slot_ideal(arrivals, scenario, WAIT_BUDGET, args.latency, change_at=change_at)
    start_at = time.time() + 6.0  # time for the workers to start Django (and LiteLLM)
    changer = None
    if change_at is not None:
        factor = scenario["tier_change"][1]

        def upgrade() -> None:  # every organization moves to a tier with every limit x factor
            for org in org_keys:
                stub.set_limits(org, MODEL, {k: v * factor for k, v in limits.items()})

        changer = threading.Timer(start_at + change_at - time.time(), upgrade)
        changer.start()
    indexed = list(enumerate(arrivals))
    offsets = scenario.get("clock_offsets") or (0.0,) * args.procs
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(args.procs) as procs:
        parts = procs.starmap(
            drive,
            [(system, indexed[p :: args.procs], args.threads, start_at, keys, limits, offsets[p % len(offsets)])
             for p in range(args.procs)],
        )
    if changer is not None:
        changer.cancel()
    records = [r for part in parts for r in part]
    stats = stub.stats()
    stub.stop()
    ostub.stop()
    measure_from = change_at + 30.0 if change_at is not None else None
    return summarize(system, scenario_name, load, records, stats, ideal, arrivals, measure_from)


def add_keys(org_keys: dict[str, list[str]], openai_key: str | None, scenario: dict) -> None:
    setup_django()
    from django.db import connections

    from keymanager.services.ceilings import limit_set
    from keymanager.services.keys import key_add, keys_import_env

    if scenario["keys_per_org"] > 1:
        # As an operator would: GROQ_API_KEY, GROQ_API_KEY2, ... with no organizations stated.
        flat = [k for keys in org_keys.values() for k in keys]
        keys_import_env({f"GROQ_API_KEY{'' if i == 1 else i}": k for i, k in enumerate(flat, start=1)})
    else:
        for org, keys in org_keys.items():
            for key in keys:
                key_add(provider="groq", name=f"{org}-key", secret=key,
                        organization=org if scenario["tell"] else "")
    if scenario["tell"]:
        limit_set(provider="groq", model=MODEL, **scenario["limits"])
    if openai_key:
        key_add(provider="openai", name="openai", secret=openai_key, organization="openai_org")
    connections.close_all()


def summarize(system, scenario, load, records, stats, ideal, arrivals, measure_from=None) -> dict:
    if measure_from is not None:
        # Only the calls that arrived from `measure_from` on, beside the ideal for those calls.
        records = [r for r in records if r[0] >= measure_from]
        ideal = {**ideal, "served": sum(f for a, f in zip(arrivals, ideal["flags"], strict=True) if a >= measure_from)}
    outcomes = Counter(outcome for _, _, outcome in records)
    served_groq = outcomes.get("groq", 0)
    served_latency = [end - arrival for arrival, end, o in records if o in ("groq", "openai")]
    exhausted_after = [end - arrival for arrival, end, o in records if o == "exhausted"]
    refused = stats["by_status"].get("429", 0)
    return {
        "system": system,
        "scenario": scenario,
        "load": load,
        "calls": len(records),
        "ideal": ideal["served"],
        "groq": served_groq,
        "openai": outcomes.get("openai", 0),
        "exhausted": outcomes.get("exhausted", 0),
        "other": sum(n for name, n in outcomes.items() if name.startswith("other:")),
        "other_kinds": {k: v for k, v in outcomes.items() if k.startswith("other:")},
        "r429": refused,
        "refused_per_100": 100 * refused / max(1, served_groq),
        "of_ideal": served_groq / max(1, ideal["served"]),
        "groq_share": served_groq / max(1, len(records)),
        "p50": percentile(served_latency, 0.50),
        "p95": percentile(served_latency, 0.95),
        "ideal_p95": ideal["p95_wait"],
        "exhausted_p95": percentile(exhausted_after, 0.95) if exhausted_after else float("nan"),
        "over_budget": stats["over_budget"],
        "measured_from": measure_from,
    }


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'scenario':9} {'system':16} {'load':>5} {'calls':>5} {'ideal':>5} {'groq':>5} {'of ideal':>8} "
        f"{'groq%':>6} {'openai':>6} {'exhst':>5} {'other':>5} {'429s':>5} {'429/100':>7} "
        f"{'p50 s':>6} {'p95 s':>6} {'ideal p95':>9} {'exhst p95':>9}"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['scenario']:9} {r['system']:16} {r['load']:>5.0%} {r['calls']:>5} {r['ideal']:>5} {r['groq']:>5} "
            f"{r['of_ideal']:>8.3f} {r['groq_share']:>6.1%} {r['openai']:>6} {r['exhausted']:>5} {r['other']:>5} "
            f"{r['r429']:>5} {r['refused_per_100']:>7.2f} {r['p50']:>6.2f} {r['p95']:>6.2f} {r['ideal_p95']:>9.2f} "
            f"{r['exhausted_p95']:>9.2f}"
        )
        if r["other_kinds"]:
            print(f"{'':9} other: {r['other_kinds']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--duration", type=float, default=90.0, help="seconds of arrivals per run (default 90)")
    parser.add_argument("--loads", default="0.9,1.5", help="shares of the true capacity (default 0.9,1.5)")
    parser.add_argument("--scenarios", default="told,learned,bucket,orgs,day,day-rolling,tier,clocks")
    parser.add_argument("--systems", default="pool,litellm-ubr2,litellm-shuffle,roundrobin,sdk-1key")
    parser.add_argument("--baselines-in", default="told,day,tier", help="scenarios that also run the baselines")
    parser.add_argument("--procs", type=int, default=4, help="driver OS processes (default 4)")
    parser.add_argument("--threads", type=int, default=64, help="threads per process (default 64)")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in reply latency, seconds")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--openai", action="store_true", help="give the pool an OpenAI key too (own column)")
    parser.add_argument("--json", help="write all results to this file")
    args = parser.parse_args()

    configure_environment(args.db, name=os.environ.get("BENCH_DB_NAME") or "cosmosquest_bench_goodput",
                          KEYMANAGER_WAIT_BUDGET=str(WAIT_BUDGET))
    systems = args.systems.split(",")
    if any(s.startswith("litellm") for s in systems):
        try:
            import litellm  # noqa: F401
        except ImportError:
            print("litellm is not installed (pip install -r bench/requirements.txt): skipping it")
            systems = [s for s in systems if not s.startswith("litellm")]
    rows = []
    for scenario in args.scenarios.split(","):
        for load in (float(x) for x in args.loads.split(",")):
            for system in systems:
                if system != "pool" and scenario not in args.baselines_in.split(","):
                    continue
                print(f"... {scenario}: {system} at {load:.0%} for {args.duration:.0f}s", flush=True)
                rows.append(run_once(system, scenario, load, args))
    print(f"\n{ORGS} organizations (day scenarios: 2), wait budget {WAIT_BUDGET:.0f} s, {args.duration:.0f} s of "
          f"arrivals per run (day: 480 s, tier: 180 s, measured from 30 s after the change), {args.procs} "
          f"processes, stand-in latency {args.latency} s, db={args.db}, cores={os.cpu_count()}")
    print_table(rows)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
