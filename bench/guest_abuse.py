"""Abuse bench: can anyone spend the pool? Each attack against its own production-like instance (issues 11, 18).

    .venv/bin/python bench/guest_abuse.py                         # every attack, shipped limits
    .venv/bin/python bench/guest_abuse.py --attack ipv6 --attack window
    .venv/bin/python bench/guest_abuse.py --json abuse.json       # also write the figures

The instance of bench/live_load.py: gunicorn with deploy/gunicorn.conf.py, the django-q2 cluster,
PostgreSQL, the Groq stand-in in its own process; clients reach gunicorn from 127.0.0.1, which
plays the TLS proxy (the shipped TRUSTED_PROXIES) and names each client in X-Forwarded-For, or
directly from 127.0.0.2, a client that is no proxy. The stand-in has more capacity than the
limits allow (12 organizations, 0.3 s per completion, 6 writers), so the limits, not the pool,
decide; `accounts` runs on the small free-tier pool of the original report (4 organizations,
2 s) instead, where the question is whether the guests' reserve holds.

Attacks (each prints the completions the stand-in served, the configured limit that applies,
and what a real member got afterwards: an established account launching from its own address):
- signup: 30 sign-ups from one address (a bot that waits out the form's time check), then
  every account launches 10 missions;
- accounts: 10 new accounts from 10 addresses launch and answer missions for a minute;
- buffer: 60 fresh guest sessions from one address, 0.5 s apart, against a full buffer; then
  one scheduled refill, so that every mission handed out has been written again;
- ipv6: 60 fresh guest sessions, each from another /56 of one /48;
- window: one guest session launches every 2 s for 130 s under a 5-per-minute limit; the figure
  is the most completions in any 60 s;
- spoof-direct: 40 fresh guest sessions and 60 password guesses (30 usernames x 2) straight to
  gunicorn from 127.0.0.2, a new X-Forwarded-For each time;
- spoof-proxy: the same through the proxy, each request forging an X-Forwarded-For entry in
  front of the one the proxy adds.

Limits are read from the same environment the instance gets (the shipped defaults, or --set).
The code before issue 18 ignores the settings it does not know; its figures are measured by
running this script from a checkout of that code.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.live_load import CSRF, RUN_URL, Instance, instance, manage  # noqa: E402

PASSWORD = "bench-orbit-velocity-42"
MEMBER = "member"
MEMBER_ADDRESS = "192.0.2.200"
PROXY, DIRECT = "127.0.0.1", "127.0.0.2"
TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
DEFAULTS = {  # the shipped values (cosmosquest/settings.py), unless --set changes them
    "QUESTS_LIVE_RATE_GUEST": "5/h", "QUESTS_LIVE_RATE_ADDRESS": "20/h", "QUESTS_LIVE_RATE_NETWORK": "40/h",
    "QUESTS_LIVE_RATE_PLAYER": "30/h", "QUESTS_LIVE_RATE_NEW_PLAYER": "5/h", "QUESTS_LIVE_RATE_PLAYER_ADDRESS": "60/h",
    "QUESTS_SIGNUP_RATE_ADDRESS": "3/d", "AUTH_FAILURE_RATE_ADDRESS": "20/15m",
}
ROOMY = {"orgs": 12, "latency": 0.3, "Q_WORKERS": "4", "QUESTS_LIVE_MAX_IN_FLIGHT": "8"}
SMALL = {"orgs": 4, "latency": 2.0, "Q_WORKERS": "2", "QUESTS_LIVE_MAX_IN_FLIGHT": "2"}

MEMBER_SQL = f"""
from datetime import timedelta
from django.contrib.auth.models import User
from django.utils import timezone
from quests.models import Player
user = User.objects.create_user("{MEMBER}", password="{PASSWORD}")
User.objects.filter(pk=user.pk).update(date_joined=timezone.now() - timedelta(days=30))
Player.objects.create(user=user, callsign="Member", runs_completed=200, xp=3000)
"""
RUN_SQL = """
import json
from quests.models import QuestRun
run = QuestRun.objects.get(pk={run_id})
print(json.dumps([run.source, run.fallback_reason]))
"""
TIMES_SQL = """
import json
from keymanager.models import UsageLog
print(json.dumps([t.timestamp() for t in UsageLog.objects.filter(outcome="success").order_by("created_at")
                  .values_list("created_at", flat=True)]))
"""
ACCOUNTS_SQL = "from django.contrib.auth.models import User; print(User.objects.exclude(username='member').count())"


def count(rate: str) -> int:
    return int(rate.split("/")[0])


@dataclass
class Outcome:
    attack: str
    sent: str
    completions: int
    limit: int
    limit_rule: str
    member: str
    extra: str = ""

    @property
    def held(self) -> bool:
        return self.completions <= self.limit


class Browser:
    """One client: its own cookies, reaching gunicorn as the proxy (naming `address`) or directly."""

    def __init__(self, site: Instance, *, address: str | None = None, direct: bool = False,
                 forged: bool = False) -> None:
        self.address, self.forged = address, forged
        transport = httpx.HTTPTransport(local_address=DIRECT if direct else PROXY)
        self.client = httpx.Client(base_url=site.base, timeout=60, transport=transport)

    def headers(self) -> dict[str, str]:
        if self.address is None:
            return {}
        if self.forged:  # what the client sent, then what the proxy appended
            return {"X-Forwarded-For": f"{random_ipv4()}, {self.address}"}
        return {"X-Forwarded-For": self.address}

    def get(self, url: str) -> httpx.Response:
        return self.client.get(url, headers=self.headers())

    def post(self, url: str, data: dict) -> httpx.Response:
        return self.client.post(url, data=data, headers=self.headers())

    def form(self, url: str) -> dict[str, str]:
        page = self.get(url)
        fields = {"csrfmiddlewaretoken": CSRF.search(page.text).group(1)} if CSRF.search(page.text) else {}
        token = TOKEN.search(page.text)
        if token:  # the sign-up form's time token (issue 18); the hidden field stays empty
            fields.update(form_token=token.group(1), flight_plan="")
        return fields

    def launch(self, number: int) -> int | None:
        form = self.form(f"/quest/{number}/")
        if "csrfmiddlewaretoken" not in form:  # an open mission of this quest: not a new launch
            return None
        response = self.post(f"/quest/{number}/launch", form)
        match = RUN_URL.search(response.headers.get("location", ""))
        return int(match.group(1)) if match else None

    def answer(self, run_id: int) -> None:
        """Answer a mission (once it is there), so the next launch of its quest is a new one."""
        for _ in range(60):
            page = self.get(f"/run/{run_id}/")
            if "Your challenge" in page.text:
                form = {"csrfmiddlewaretoken": CSRF.search(page.text).group(1), "q1": "0", "q2": "0", "q3": "0"}
                self.post(f"/run/{run_id}/answer", form)
                return
            time.sleep(0.5)

    def log_in(self, username: str, password: str) -> int:
        return self.post("/accounts/login/", {**self.form("/accounts/login/"), "username": username,
                                              "password": password}).status_code

    def close(self) -> None:
        self.client.close()


def random_ipv4() -> str:
    return f"{random.randint(11, 223)}.{random.randint(0, 255)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def completions(site: Instance) -> int:
    return int(site.stub_stats()["by_status"].get("200", 0))


def settle(seconds: float = 16) -> None:
    time.sleep(seconds)  # every queued live mission is written or has fallen back by now (10 s + grace)


def member_check(site: Instance, launches: int = 1) -> str:
    """An established member, from an address of its own: does it still get fresh missions?"""
    member = Browser(site, address=MEMBER_ADDRESS)
    try:
        if member.log_in(MEMBER, PASSWORD) != 302:
            return "could not log in"
        got = []
        for number in range(1, launches + 1):
            run_id = member.launch(6 - number)
            if run_id is None:
                got.append("no run")
                continue
            for _ in range(40):  # follow the mission as its page's script would
                state = member.get(f"/run/{run_id}/status").json().get("state")
                if state != "writing":
                    break
                time.sleep(0.3)
            source, reason = json.loads(manage("shell", "-c", RUN_SQL.format(run_id=run_id), env=site.env, capture=True)
                                        .strip().splitlines()[-1])
            got.append(source if source != "archive" else f"archive ({reason or 'timeout'})")
        return ", ".join(got)
    finally:
        member.close()


def prepare(site: Instance) -> None:
    manage("shell", "-c", MEMBER_SQL, env=site.env)


def run_parallel(jobs: list[Callable[[], None]], every: float, workers: int = 12) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = []
        for i, job in enumerate(jobs):
            time.sleep(max(0.0, started + i * every - time.monotonic()))
            futures.append(pool.submit(job))
        for future in futures:
            future.result()
    return time.monotonic() - started


def sign_up(site: Instance, browser: Browser, username: str, wait: float) -> bool:
    form = browser.form("/accounts/signup/")
    time.sleep(wait)
    response = browser.post("/accounts/signup/", {**form, "username": username, "password1": PASSWORD,
                                                  "password2": PASSWORD})
    return response.status_code == 302


# --- the attacks ---------------------------------------------------------------------------


def attack_signup(site: Instance, limits: dict) -> Outcome:
    browsers = [Browser(site, address="203.0.113.50") for _ in range(30)]
    created: list[Browser] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        if sign_up(site, browsers[i], f"bot{i:02d}", wait=3.2):
            with lock:
                created.append(browsers[i])

    run_parallel([lambda i=i: one(i) for i in range(30)], every=0.05)
    accounts = int(manage("shell", "-c", ACCOUNTS_SQL, env=site.env, capture=True).strip().splitlines()[-1])

    def spend(browser: Browser) -> None:
        for round_ in range(2):
            runs = [browser.launch(n) for n in range(1, 6)]
            if round_ == 0:
                for run_id in runs:
                    if run_id:
                        browser.answer(run_id)

    run_parallel([lambda b=b: spend(b) for b in created], every=0.1)
    settle()
    allowed_accounts = count(limits["QUESTS_SIGNUP_RATE_ADDRESS"])
    limit = min(allowed_accounts * count(limits["QUESTS_LIVE_RATE_NEW_PLAYER"]),
                count(limits["QUESTS_LIVE_RATE_PLAYER_ADDRESS"]))
    done = completions(site)
    return Outcome("mass sign-up, one address", f"30 sign-ups, {accounts} accounts x 10 launches", done, limit,
                   f"{allowed_accounts} accounts/d x {limits['QUESTS_LIVE_RATE_NEW_PLAYER']} new account",
                   member_check(site), extra=f"accounts opened: {accounts}")


def attack_accounts(site: Instance, limits: dict) -> Outcome:
    browsers = [Browser(site, address=f"198.51.100.{10 + i}") for i in range(10)]
    made = [b for i, b in enumerate(browsers) if sign_up(site, b, f"newcomer{i}", wait=3.2)]
    stop_at = time.monotonic() + 60
    sent = [0]
    lock = threading.Lock()

    def spend(browser: Browser) -> None:
        number = 0
        while time.monotonic() < stop_at:  # launch, answer, launch again, for a minute
            run_id = browser.launch(1 + number % 5)
            number += 1
            with lock:
                sent[0] += 1
            if run_id:
                browser.answer(run_id)

    run_parallel([lambda b=b: spend(b) for b in made], every=0.0)
    done = completions(site)
    member = member_check(site, launches=3)
    limit = len(made) * count(limits["QUESTS_LIVE_RATE_NEW_PLAYER"])
    return Outcome("10 new accounts, 10 addresses", f"{len(made)} accounts, {sent[0]} launches in 60 s", done,
                   limit, f"{len(made)} x {limits['QUESTS_LIVE_RATE_NEW_PLAYER']} new account; guests' reserve",
                   member)


def attack_buffer(site: Instance, limits: dict) -> Outcome:
    jobs = []
    for i in range(60):
        def one(i=i) -> None:
            browser = Browser(site, address="203.0.113.60")
            browser.launch(1 + i % 5)
            browser.close()
        jobs.append(one)
    run_parallel(jobs, every=0.5)
    settle()
    # Refills on serve are debounced per quest (30 s); the scheduled refill (every minute in
    # production, not running here) writes the rest: run it once, so every hand-out's
    # replacement is counted.
    manage("quests", "refill", "--max", "100", env=site.env, capture=True)
    done = completions(site)
    return Outcome("buffered hand-outs, one address", "60 fresh sessions, 0.5 s apart, buffer of 3 per quest", done,
                   count(limits["QUESTS_LIVE_RATE_ADDRESS"]), f"{limits['QUESTS_LIVE_RATE_ADDRESS']} per address",
                   member_check(site))


def attack_ipv6(site: Instance, limits: dict) -> Outcome:
    jobs = []
    for i in range(60):
        def one(i=i) -> None:
            browser = Browser(site, address=f"2001:db8:42:{i:02x}00::{random.randint(1, 0xffff):x}")
            browser.launch(1 + i % 5)
            browser.close()
        jobs.append(one)
    run_parallel(jobs, every=0.25)
    settle()
    done = completions(site)
    return Outcome("IPv6: a /56 each, one /48", "60 fresh sessions from 60 /56s", done,
                   count(limits["QUESTS_LIVE_RATE_NETWORK"]), f"{limits['QUESTS_LIVE_RATE_NETWORK']} per /48",
                   member_check(site))


def attack_window(site: Instance, limits: dict) -> Outcome:
    browser = Browser(site, address="203.0.113.70")
    started = time.time()
    launches = 0
    while time.time() - started < 130:
        tick = time.monotonic()
        run_id = browser.launch(1 + launches % 5)
        launches += 1
        if run_id:
            threading.Thread(target=browser.answer, args=(run_id,), daemon=True).start()
        time.sleep(max(0.0, 2.0 - (time.monotonic() - tick)))
    settle()
    times = json.loads(manage("shell", "-c", TIMES_SQL, env=site.env, capture=True).strip().splitlines()[-1])
    times = [t for t in times if t >= started - 1]
    worst = max((sum(1 for u in times if t <= u < t + 60) for t in times), default=0)
    member = member_check(site)
    rate = limits["QUESTS_LIVE_RATE_GUEST"]
    return Outcome("window edges, one session", f"{launches} launches over 130 s", worst, count(rate),
                   f"{rate} per session, in any 60 s", member, extra=f"completions in all: {len(times)}")


def guesses(site: Instance, make: Callable[[], Browser]) -> int:
    """30 usernames x 2 passwords; how many reached a password check (anything but a 429)."""
    checked = 0
    for attempt in range(60):
        browser = make()
        status = browser.post("/accounts/login/", {**browser.form("/accounts/login/"),
                                                  "username": f"user{attempt % 30}", "password": f"guess{attempt}"}).status_code
        checked += status != 429
        browser.close()
    return checked


def attack_spoof(site: Instance, limits: dict, *, direct: bool) -> Outcome:
    def make() -> Browser:
        if direct:  # straight to gunicorn, a new X-Forwarded-For each request
            return Browser(site, address=random_ipv4(), direct=True)
        return Browser(site, address="198.51.100.77", forged=True)

    jobs = []
    for i in range(40):
        def one(i=i) -> None:
            browser = make()
            browser.launch(1 + i % 5)
            browser.close()
        jobs.append(one)
    run_parallel(jobs, every=0.25)
    settle()
    done = completions(site)
    checked = guesses(site, make)
    name = "spoofed X-Forwarded-For, " + ("straight to gunicorn" if direct else "through the proxy")
    return Outcome(name, "40 fresh sessions; 60 password guesses", done, count(limits["QUESTS_LIVE_RATE_ADDRESS"]),
                   f"{limits['QUESTS_LIVE_RATE_ADDRESS']} per address", member_check(site),
                   extra=f"password guesses checked: {checked} (limit {count(limits['AUTH_FAILURE_RATE_ADDRESS'])})")


ATTACKS: dict[str, tuple[Callable[[Instance, dict], Outcome], dict]] = {
    "signup": (attack_signup, ROOMY),
    "accounts": (attack_accounts, SMALL),
    "buffer": (attack_buffer, {**ROOMY, "QUESTS_BUFFER_SIZE": "3", "QUESTS_REFILL_ON_SERVE": "true"}),
    "ipv6": (attack_ipv6, ROOMY),
    "window": (attack_window, {**ROOMY, "QUESTS_LIVE_RATE_GUEST": "5/m"}),
    "spoof-direct": (lambda site, limits: attack_spoof(site, limits, direct=True), ROOMY),
    "spoof-proxy": (lambda site, limits: attack_spoof(site, limits, direct=False), ROOMY),
}


def run_attack(name: str, args: argparse.Namespace, extra: dict[str, str]) -> Outcome:
    attack, config = ATTACKS[name]
    config = {**config, **extra}
    orgs, latency = config.pop("orgs"), config.pop("latency")
    limits = {**DEFAULTS, **{k: v for k, v in config.items() if k in DEFAULTS}}
    saved = dict(os.environ)  # each instance sets its own environment; none leaks into the next
    try:
        with instance(broker=args.broker, redis_url=args.redis_url, orgs=orgs, latency=latency,
                      web_port=args.web_port, stub_port=args.stub_port, db_name=args.db_name, **config) as site:
            prepare(site)
            if config.get("QUESTS_BUFFER_SIZE", "0") != "0":
                manage("quests", "refill", "--max", "15", env=site.env, capture=True)
            httpx.post(f"{site.stub}/_stub/reset_stats", timeout=5)
            return attack(site, limits)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", action="append", choices=sorted(ATTACKS), help="default: every attack")
    parser.add_argument("--broker", choices=("orm", "redis"), default="orm")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--web-port", type=int, default=8100)
    parser.add_argument("--stub-port", type=int, default=8910)
    parser.add_argument("--db-name", default=os.environ.get("BENCH_DB_NAME", "cosmosquest_abuse"))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="extra environment")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()

    extra = dict(item.split("=", 1) for item in args.set)
    outcomes = []
    for name in args.attack or list(ATTACKS):
        outcome = run_attack(name, args, extra)
        outcomes.append(outcome)
        print(f"{name}: {outcome.completions} completions (limit {outcome.limit}: {outcome.limit_rule}); "
              f"member: {outcome.member}; {outcome.extra}", flush=True)
    print("\n| attack | sent | completions | limit that applies | held | member afterwards | notes |")
    print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        print(f"| {o.attack} | {o.sent} | **{o.completions}** | {o.limit} ({o.limit_rule}) | "
              f"{'yes' if o.held else 'NO'} | {o.member} | {o.extra} |")
    if args.json:
        Path(args.json).write_text(json.dumps([{**asdict(o), "held": o.held} for o in outcomes], indent=2))


if __name__ == "__main__":
    main()
