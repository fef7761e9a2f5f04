"""The budget ledger on its own: windows, reservations, the provider's word, learning (no database)."""

from __future__ import annotations

import random

import pytest

from keymanager.ledger import (
    DAY,
    FACT_HOLDS,
    HEADER,
    MARGIN,
    MINUTE,
    NO_PEERS,
    PROBE,
    REFUSAL,
    Cost,
    Ledger,
    Ring,
    apply_inbox,
    fit,
    peers_of,
    probe_raise,
    settle_event,
    still_fits,
    success_event,
    word_event,
)

T0 = 1_800_000_000.0  # an arbitrary epoch second
TIGHT = {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}


def hard(**values) -> Ledger:
    """A ledger whose limits are all confirmed (as if the provider had stated them)."""
    ledger = Ledger()
    for kind, value in {**TIGHT, **values}.items():
        ledger.learn(kind, value, HEADER, T0)
    return ledger


def admit(ledger: Ledger, t: float, tokens: int = 10, output: int = 0, token: str = "", deadline: float = 0.0) -> int:
    return ledger.admit(t, Cost(input=tokens, output=output), ledger.limits(TIGHT, NO_PEERS, t), token=token,
                        deadline=deadline)


def at(ledger: Ledger, now: float, tokens: int = 10, *, wait: float = 20.0, not_before: float = 0.0,
       guesses: dict | None = None, peers=None, output: int = 0):
    return fit(ledger, TIGHT if guesses is None else guesses, now=now, not_before=not_before,
               cost=Cost(input=tokens, output=output), until=now + wait, peers=peers)


def most_in_any_window(times: list[float], period: float) -> int:
    """What a rolling-window provider would count at its worst moment."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


def peers_for(*ledgers: Ledger, now: float):
    return peers_of([x.learned for x in ledgers], [x.probe_until > now for x in ledgers], now)


def publish(ledger: Ledger, rpd: int = 1000, tpm: int = 8000) -> Ledger:
    """The organization's own headers have stated its tier."""
    ledger.learn("rpd", rpd, HEADER, T0)
    ledger.learn("tpm", tpm, HEADER, T0)
    return ledger


# ----- the minute: a rolling upper bound -------------------------------------------------

def test_a_full_minute_admits_nothing_more_until_its_first_request_leaves_it():
    ledger = hard(rpm=3)
    for i in range(3):
        got = at(ledger, T0 + i)
        assert got.at == T0 + i and got.within
        admit(ledger, got.at)
    beyond = at(ledger, T0 + 5)
    # Not within the wait: nothing held, and it says when (one minute, plus slice and margin).
    assert not beyond.within and T0 + MINUTE <= beyond.at <= T0 + MINUTE + 2 * MARGIN + 0.25
    later = at(ledger, T0 + 5, wait=90)
    assert later.within and later.at == beyond.at


def test_reservations_are_first_come_first_served_and_never_overrun_a_rolling_window():
    ledger = hard(rpm=5, tpm=10**6)
    rng = random.Random(4)
    now, sent = T0, []
    for _ in range(40):
        now += rng.uniform(0, 2)
        got = at(ledger, now, 100, wait=600)
        assert got.within and got.at >= now
        admit(ledger, got.at, 100)
        # Each caller's slot is no earlier than the one before it: arrival order is kept.
        assert not sent or got.at >= sent[-1]
        sent.append(got.at)
    assert most_in_any_window(sent, MINUTE + MARGIN) <= 5
    # And the pool wastes little: 40 calls at 5 a minute need a bit under 8 minutes.
    assert sent[-1] - sent[0] < 8 * (MINUTE + 1)


def test_of_several_windows_the_earliest_slot_is_taken_not_a_later_one():
    ledger = hard(rpm=2, tpm=10**6)
    admit(ledger, T0)
    admit(ledger, T0 + 30)
    got = at(ledger, T0 + 31, wait=120)
    # The first request leaves the window first: the slot is then, not when the second leaves.
    assert T0 + MINUTE <= got.at <= T0 + MINUTE + MARGIN + 0.6


def test_a_later_small_call_may_use_a_gap_but_never_delays_an_earlier_reservation():
    ledger = hard(rpm=100, tpm=1000)
    admit(ledger, T0, 900)  # the minute is almost full of tokens
    big = at(ledger, T0 + 1, 600, wait=120)
    admit(ledger, big.at, 600)
    small = at(ledger, T0 + 1, 50, wait=120)
    assert small.at == T0 + 1  # 900 + 50 fits now and leaves the big one's window within 1000
    admit(ledger, small.at, 50)
    # A call that would fit now but push the window at the big reservation over: it waits.
    other = at(ledger, T0 + 2, 400, wait=300)
    assert other.at > big.at


def test_settling_replaces_the_reservation_by_the_providers_count_where_it_was_counted():
    ledger = hard(tpm=1000)
    slot = admit(ledger, T0, 100, output=800, token="a", deadline=T0 + 30)
    assert not at(ledger, T0 + 1, 900, wait=1).within
    apply_inbox(ledger, settle_event("a", slot, (0, -40, -760)))  # 60 used: 60 prompt, 40 reply
    assert ledger.used(T0 + 1)["tpm"] == 100 and ledger.used(T0 + 1)["otpm"] == 40
    assert at(ledger, T0 + 1, 900, wait=1).at == T0 + 1
    assert not ledger.pending("a")


def test_a_dead_callers_max_tokens_are_handed_back_within_seconds_of_its_slot():
    ledger = hard(tpm=2000, tpd=3000)
    # A caller admitted at T0 for 100 prompt + 1,000 max tokens dies and never reports.
    slot = admit(ledger, T0, 100, output=1000, token="dead", deadline=T0 + 25)
    assert ledger.used(T0 + 20)["tpd"] >= 1099
    ledger.prune(T0 + 26)
    used = ledger.used(T0 + 26)
    # Its max tokens no longer hold the minute nor the day; what it may have sent still counts.
    assert used["tpm"] == 100 and used["rpm"] == 1 and used["tpd"] <= 100
    # It was only slow: its late report counts what it really used, once.
    apply_inbox(ledger, settle_event("dead", slot, (0, 0, 300 - 1000)))
    assert ledger.used(T0 + 27)["tpm"] == 400


def test_the_minute_stays_bounded_whatever_the_history():
    ledger = hard(rpm=10**6, rpd=10**9, tpm=10**9, tpd=10**12)
    for i in range(200_000):  # about two days of 1 call a second
        admit(ledger, T0 + i, 50, token=f"t{i % 50}", deadline=T0 + i + 20)
        if i % 1000 == 0:
            ledger.prune(T0 + i)
    ledger.prune(T0 + 200_000)
    assert len(ledger.minute.slices) <= ledger.minute.span + 1
    assert len(ledger.dumps()) < 20_000


# ----- the provider's word on the minute ----------------------------------------------------

def test_a_header_above_the_local_count_raises_it_until_the_reset_it_names():
    ledger = hard(tpm=6000)
    admit(ledger, T0, 1000)
    # A call sent at T0+1 (its own 100 tokens counted) hears: only 1,900 of 6,000 left, all
    # restored in 10 s. Someone else spent 3,000.
    admit(ledger, T0 + 1, 100)
    apply_inbox(ledger, word_event("tpm", sent=T0 + 1, received=T0 + 1.2, limit=6000, remaining=1900, reset=10.0,
                                   own=100))
    assert ledger.used(T0 + 2)["tpm"] == 4100
    assert ledger.used(T0 + 12)["tpm"] == 100  # what was counted before the word has reset


def test_a_header_below_the_local_count_lowers_it_too():
    ledger = hard(tpm=6000)
    admit(ledger, T0, 5000)  # our reservation was high, or the provider refills as a bucket
    admit(ledger, T0 + 1, 100)
    apply_inbox(ledger, word_event("tpm", sent=T0 + 1, received=T0 + 1.2, limit=6000, remaining=5000, reset=10.0,
                                   own=100))
    # The provider counts 1,000 with this call: the fresh word replaces our 5,100.
    assert ledger.used(T0 + 2)["tpm"] == 1000
    got = at(ledger, T0 + 2, 4500, wait=1)
    assert got.at == T0 + 2


def test_what_the_pool_admitted_after_the_reply_is_added_to_the_word():
    ledger = hard(tpm=6000)
    admit(ledger, T0, 500)
    admit(ledger, T0 + 2, 700)  # sent while the first call's reply was on its way
    apply_inbox(ledger, word_event("tpm", sent=T0, received=T0 + 3, limit=6000, remaining=5500, reset=5.0, own=500))
    assert ledger.used(T0 + 3)["tpm"] == 1200


def test_a_stale_or_odd_reset_never_implies_a_wait_longer_than_the_limits_period():
    ledger = hard(tpm=6000)
    apply_inbox(ledger, word_event("tpm", sent=T0, received=T0, limit=6000, remaining=0, reset=86_400.0))
    assert not at(ledger, T0 + 1, 100, wait=1).within
    assert at(ledger, T0 + MINUTE + 1, 100, wait=1).within


def test_an_older_word_folded_late_does_not_undo_a_newer_one():
    ledger = hard(tpm=6000)
    apply_inbox(ledger, word_event("tpm", sent=T0 + 5, received=T0 + 5, limit=6000, remaining=1000, reset=30.0))
    apply_inbox(ledger, word_event("tpm", sent=T0 + 1, received=T0 + 6, limit=6000, remaining=6000, reset=0.0))
    assert ledger.used(T0 + 6)["tpm"] == 5000


def test_a_429s_wait_ends_the_block_it_causes_then_and_no_later():
    ledger = hard(rpm=30)
    for i in range(10):
        admit(ledger, T0 + i)
    # The provider counts 30 (20 of them another application's): room for one more in 2 s.
    ledger.refused(at=T0 + 10, kind="rpm", limit=30, used=30, wait=2.0, requested=1)
    assert not at(ledger, T0 + 10.5, wait=1).within
    got = at(ledger, T0 + 10.5, wait=5)
    assert got.within and got.at <= T0 + 12.5
    admit(ledger, got.at)
    # One, as the provider said; the rest of what it counted leaves as the window moves on.
    assert not at(ledger, got.at, wait=1).within


def test_each_providers_headers_are_read_in_their_own_meaning():
    from keymanager.services.headers import RateLimitHeaders, window_reports

    headers = RateLimitHeaders(limit_requests=500, remaining_requests=499, reset_requests=0.12,
                               limit_tokens=200_000, remaining_tokens=199_000, reset_tokens=0.3)
    assert [r.kind for r in window_reports("groq", headers)] == ["rpd", "tpm"]
    assert [r.kind for r in window_reports("openai", headers)] == ["rpm", "tpm"]
    # OpenAI's 500 requests are per minute: the fallback is not held to 500 a day.
    ledger = Ledger()
    for report in window_reports("openai", headers):
        ledger.hear(report.kind, sent=T0, received=T0, limit=report.limit, remaining=report.remaining,
                    reset=report.reset)
    limits = ledger.limits({}, NO_PEERS, T0)
    assert limits["rpm"] == (500.0, True) and limits["rpd"][0] == float("inf")


# ----- the day: budgets that refill ---------------------------------------------------------

def test_a_day_budget_refills_continuously_at_its_limit_per_period():
    ledger = hard(rpd=100, rpm=10**6, tpm=10**9, tpd=10**12)
    ledger.period = 1000.0  # 100 a "day" of 1,000 s: one every 10 s
    for i in range(100):
        admit(ledger, T0 + i * 0.01)
    assert not at(ledger, T0 + 2, wait=1).within
    got = at(ledger, T0 + 2, wait=30)
    # Not a day later: as soon as one request's worth has refilled.
    assert got.within and T0 + 9 <= got.at <= T0 + 11


def test_the_providers_remaining_and_reset_set_the_day_and_its_period():
    ledger = Ledger()
    # Groq's documented example: 14,370 of 14,400 left, all restored in 2m59.56s.
    apply_inbox(ledger, word_event("rpd", sent=T0, received=T0, limit=14_400, remaining=14_370, reset=179.56, own=1))
    assert ledger.learned["rpd"].value == 14_400
    assert ledger.period == pytest.approx(86_188.8, rel=0.01)  # one request every ~6 s
    assert ledger.used(T0)["rpd"] == 30
    assert ledger.used(T0 + 60)["rpd"] == 20


def test_after_a_burst_the_day_comes_back_as_the_provider_says_not_24_hours_later():
    ledger = hard(rpd=50, rpm=10**6, tpm=10**9, tpd=10**12)
    for i in range(50):
        admit(ledger, T0 + i * 0.1)
    # The provider: none left, all restored in 100 s (a short "day", or a fast refill).
    apply_inbox(ledger, word_event("rpd", sent=T0 + 4.9, received=T0 + 5, limit=50, remaining=0, reset=100.0,
                                   own=1))
    assert not at(ledger, T0 + 5, wait=1).within
    assert at(ledger, T0 + 5, wait=10).within  # 2 s a request: not held for a day
    assert ledger.period == pytest.approx(100.0, rel=0.05)


@pytest.mark.parametrize("restored_in, still_sent", [(120.0, True), (120.5, True), (240.0, False)])
def test_calls_reserved_at_a_refilling_days_edge_keep_their_places_when_a_reply_restates_the_day(
        restored_in, still_sent):
    """Three calls reserved one after another at the edge of a day that refills one request every
    4 s; then a reply restates the day: nothing left, all restored in `restored_in` seconds. The
    same figures, or a refill re-learned a hair slower (a day of 120.5 s), and the first reserved
    call is still sent at its slot: the later ones were fitted around it. A refill half as fast,
    and it is not."""
    ledger = hard(rpd=30, rpm=10**6, tpm=10**9, tpd=10**12)
    ledger.period = 120.0
    for _ in range(30):
        admit(ledger, T0)
    reserved = []
    for n in range(3):
        got = at(ledger, T0, wait=60)
        assert got.within and got.at == pytest.approx(T0 + 4 * (n + 1), abs=0.01)
        reserved.append((f"r{n}", admit(ledger, got.at, token=f"r{n}", deadline=got.at + 60), got.at))
    # The reply to a call sent in the next minute slice (the provider floors what is left).
    apply_inbox(ledger, word_event("rpd", sent=T0 + 0.3, received=T0 + 0.3, limit=30, remaining=0,
                                   reset=restored_in, own=1))
    token, mslot, slot_at = reserved[0]
    assert still_fits(ledger, TIGHT, token=token, mslot=mslot, cost=Cost(input=10), now=slot_at) is still_sent


def test_a_tpd_429_for_usage_the_pool_never_saw_ends_at_the_time_it_names():
    ledger = hard()
    # Another application spent the organization's day; the 429 says: try again in 7m12s.
    ledger.refused(at=T0, kind="tpd", limit=200_000, used=199_990, wait=432.0, requested=1000)
    assert not at(ledger, T0 + 400, 1000, wait=1).within
    got = at(ledger, T0 + 400, 1000, wait=60)
    assert got.within and T0 + 431 <= got.at <= T0 + 433


def test_after_a_day_refusal_one_call_at_a_time_confirms_the_refill():
    ledger = hard()
    ledger.refused(at=T0, kind="tpd", limit=200_000, used=199_000, wait=10.0, requested=1000)
    first = at(ledger, T0 + 1, 1000, wait=20)
    assert first.probe and T0 + 10 <= first.at <= T0 + 11
    admit(ledger, first.at, 1000)
    ledger.probe_until = first.at + 25
    second = at(ledger, T0 + 1, 1000, wait=20)
    assert not second.within  # held until the probe reports
    ledger.succeeded(first.at)  # served: the refill is there
    ledger.probe_until = 0.0
    assert not any(b.doubt for b in ledger.day.values())
    assert not at(ledger, first.at + 1, 10, wait=60).probe


# ----- what was learned, and for how long ---------------------------------------------------

def test_headers_teach_the_published_limits():
    ledger = Ledger()
    apply_inbox(ledger, word_event("rpd", sent=T0, received=T0, limit=2000, remaining=1990, reset=60.0, own=1)
                + word_event("tpm", sent=T0, received=T0, limit=12_000, remaining=11_500, reset=3.0, own=500))
    assert (ledger.learned["rpd"].value, ledger.learned["rpd"].source) == (2000, HEADER)
    assert (ledger.learned["tpm"].value, ledger.learned["tpm"].source) == (12_000, HEADER)
    limits = ledger.limits(TIGHT, NO_PEERS, T0)
    # RPM and TPD appear in no header: the shipped guess stands, soft.
    assert limits["rpm"] == (30.0, False) and limits["tpm"] == (12_000.0, True)


def test_a_limit_a_429_stated_is_a_fact_for_an_hour_then_a_guess_again():
    ledger = Ledger()
    ledger.refused(at=T0, kind="rpm", limit=45, used=45, wait=2.0, requested=1)
    assert ledger.limits(TIGHT, NO_PEERS, T0 + FACT_HOLDS - 1)["rpm"] == (45.0, True)
    assert ledger.limits(TIGHT, NO_PEERS, T0 + FACT_HOLDS + 1)["rpm"] == (45.0, False)
    # Soft again: one call may probe past it and find the tier's new limit.
    for i in range(45):
        admit(ledger, T0 + FACT_HOLDS + 1 + i * 0.1)
    assert at(ledger, T0 + FACT_HOLDS + 6).probe


def test_another_tier_in_the_headers_drops_what_was_learned_under_the_old_one():
    ledger = publish(Ledger())
    ledger.refused(at=T0, kind="rpm", limit=30, used=30, wait=2.0, requested=1)
    ledger.learn("tpd", 250_000, PROBE, T0)
    apply_inbox(ledger, word_event("rpd", sent=T0 + 5, received=T0 + 5, limit=3000, remaining=2999, reset=1.0,
                                   own=1))
    assert "rpm" not in ledger.learned and "tpd" not in ledger.learned
    assert ledger.learned["rpd"].value == 3000


def test_an_admins_ceiling_caps_what_was_learned_and_what_probing_may_try():
    ledger = Ledger()
    ledger.learn("rpm", 1000, REFUSAL, T0)
    ledger.ceilings = {"rpm": 40, "tpd": 50_000}
    limits = ledger.limits(TIGHT, NO_PEERS, T0)
    assert limits["rpm"] == (40.0, True) and limits["tpd"] == (50_000.0, True)
    for i in range(40):
        admit(ledger, T0 + i * 0.1)
    got = at(ledger, T0 + 5, wait=1)
    assert not got.within and not got.probe


def test_an_admins_ceiling_is_worked_up_to_unless_the_provider_states_less_within_the_hour():
    ledger = Ledger()
    ledger.ceilings = {"rpm": 1000}
    assert ledger.limits(TIGHT, NO_PEERS, T0)["rpm"] == (1000.0, True)
    ledger.learn("rpm", 900, PROBE, T0)  # an unconfirmed value does not lower it
    assert ledger.limits(TIGHT, NO_PEERS, T0)["rpm"] == (1000.0, True)
    ledger.learn("rpm", 60, REFUSAL, T0)  # the provider says less: that holds, for an hour
    assert ledger.limits(TIGHT, NO_PEERS, T0 + 10)["rpm"] == (60.0, True)
    assert ledger.limits(TIGHT, NO_PEERS, T0 + FACT_HOLDS + 1)["rpm"] == (1000.0, True)


def test_an_admins_reset_forgets_what_was_learned():
    ledger = publish(Ledger())
    ledger.refused(at=T0, kind="rpm", limit=10, used=10, wait=2.0, requested=1)
    ledger.forget()
    assert ledger.learned == {} and ledger.limits(TIGHT, NO_PEERS, T0)["rpm"] == (30.0, False)


def test_one_call_at_a_time_may_probe_past_a_guess_and_raises_it():
    ledger = Ledger()  # nothing learned: the shipped guess of 30 RPM is soft
    for i in range(30):
        admit(ledger, T0 + i * 0.1)
    got = at(ledger, T0 + 4, wait=1)
    assert got.probe and got.at == T0 + 4
    probe_raise(ledger, got.limits, T0 + 4, Cost(input=10))
    ledger.probe_until = T0 + 30
    admit(ledger, T0 + 4)
    assert (ledger.learned["rpm"].value, ledger.learned["rpm"].source) == (31, PROBE)
    # While that probe is in flight, nobody else goes past the (raised) guess.
    assert not at(ledger, T0 + 4.1, wait=1).probe
    # A fresh stated limit is never probed past.
    ledger.learn("rpm", 31, REFUSAL, T0 + 5)
    ledger.probe_until = 0.0
    assert not at(ledger, T0 + 6, wait=1).probe


def busy(requests: int) -> Ledger:
    """A ledger at its shipped guesses, on the free tier by its own headers, with `requests`
    calls in the last minute."""
    ledger = publish(Ledger())
    for i in range(requests):
        admit(ledger, T0 + i * 0.1)
    return ledger


def test_a_limit_stated_to_one_organization_holds_for_its_peers_without_a_429_each():
    told, other = publish(Ledger()), busy(45)
    told.learn("rpm", 45, REFUSAL, T0)
    alone = at(other, T0 + 5, wait=1)
    assert alone.probe  # on its own it would go past its guess and collect its own 429
    _, peers = peers_for(told, other, now=T0 + 5)
    got = at(other, T0 + 5, wait=1, peers=peers)
    assert not got.probe and not got.within  # 45 is the tier's limit: wait, do not probe
    assert other.limits(TIGHT, peers, T0 + 5)["rpm"] == (45.0, True)
    assert at(busy(44), T0 + 5, wait=1, peers=peers).at == T0 + 5


def test_an_organization_with_no_headers_yet_is_nobodys_peer():
    told, new = publish(Ledger(), tpm=250_000), Ledger()
    told.learn("rpm", 1000, REFUSAL, T0)  # a developer-tier organization's stated RPM
    _, peers = peers_for(told, new, now=T0 + 1)
    # The new one may be on the free tier: it keeps its own guesses, soft, and probes.
    assert new.limits(TIGHT, peers, T0 + 1)["rpm"] == (30.0, False)
    for i in range(30):
        admit(new, T0 + i * 0.01)
    got = at(new, T0 + 1, wait=1, peers=peers)
    assert got.probe  # one call goes past the guess, not 200 on the strength of another's tier


def test_two_organizations_without_headers_are_not_each_others_peers():
    first, second = Ledger(), busy(30)
    second.learned.clear()  # neither has heard from the provider yet
    first.learn("rpm", 1000, REFUSAL, T0)
    _, peers = peers_for(first, second, now=T0 + 1)
    assert peers is NO_PEERS and second.limits(TIGHT, peers, T0 + 1)["rpm"] == (30.0, False)


def test_organizations_on_other_published_limits_are_not_peers():
    told, other = publish(Ledger()), busy(45)
    told.learn("rpm", 45, REFUSAL, T0)
    publish(other, rpd=14_400)  # another tier: its headers say so
    _, peers = peers_for(told, other, now=T0 + 5)
    assert at(other, T0 + 5, wait=1, peers=peers).probe


def test_peers_probe_one_at_a_time_and_share_what_a_probe_got_through():
    prober, other = publish(Ledger()), busy(35)
    prober.learn("rpm", 36, PROBE, T0)
    prober.probe_until = T0 + 30  # its probe is in flight
    _, peers = peers_for(prober, other, now=T0 + 5)
    assert at(other, T0 + 5, wait=1, peers=peers).at == T0 + 5
    admit(other, T0 + 5)
    got = at(other, T0 + 5, wait=1, peers=peers)
    assert not got.probe and not got.within
    prober.probe_until = 0.0
    _, peers = peers_for(prober, other, now=T0 + 5)
    assert at(other, T0 + 5, wait=1, peers=peers).probe


def test_an_admins_ceiling_is_not_shared_with_peers():
    capped, other = publish(Ledger()), busy(30)
    capped.ceilings["rpm"] = 10
    _, peers = peers_for(capped, other, now=T0 + 5)
    assert other.limits(TIGHT, peers, T0 + 5)["rpm"] == (30.0, False)


def test_a_request_is_refused_locally_only_when_it_can_never_fit():
    ledger = hard(tpm=500)
    assert fit(ledger, {}, now=T0, not_before=0, cost=Cost(input=100, output=600), until=T0 + 100).at is None
    # A high prompt estimate alone does not refuse it: what is certain fits, the provider decides.
    got = fit(ledger, {}, now=T0, not_before=0, cost=Cost(input=700, output=50), until=T0 + 1,
              sure=Cost(input=400, output=50))
    assert got.at == T0 and got.within
    # Past a mere guess it may still be tried (the real limit may be larger).
    assert fit(Ledger(), {"tpm": 500}, now=T0, not_before=0, cost=Cost(input=600), until=T0 + 1).probe


def test_input_and_output_token_limits_are_kept_apart_once_a_429_names_them():
    ledger = hard(tpm=10**6)
    ledger.refused(at=T0, kind="otpm", limit=1000, used=0, wait=None, requested=None)
    admit(ledger, T0, 50, output=900)
    assert at(ledger, T0 + 1, 5000, output=50, wait=1).within  # plenty of input room
    assert not at(ledger, T0 + 1, 10, output=200, wait=1).within  # output is full


def test_not_before_moves_the_slot_past_a_cooldown_and_the_window_both():
    ledger = hard(rpm=1)
    admit(ledger, T0)
    got = at(ledger, T0 + 1, not_before=T0 + 3, wait=300)
    assert got.at >= T0 + MINUTE  # the window, not the earlier cooldown end, decides
    free = at(Ledger(), T0 + 1, not_before=T0 + 3, wait=300)
    assert free.at == T0 + 3  # an empty window: the cooldown end decides


def test_the_token_ratio_is_learned_from_what_the_provider_counted():
    ledger = Ledger()
    for _ in range(12):
        apply_inbox(ledger, success_event(T0, prompt_ours=100, prompt_theirs=130))
    assert ledger.token_ratio == pytest.approx(1.3, rel=0.01)


def test_the_ledger_survives_storage_and_a_malformed_event():
    ledger = hard()
    admit(ledger, T0, 123, token="k", deadline=T0 + 20)
    ledger.lru[7] = T0
    ledger.refused(at=T0, kind="tpd", limit=200_000, used=10, wait=5.0, requested=10)
    copy = Ledger.loads(ledger.dumps())
    assert copy.dumps() == ledger.dumps()
    apply_inbox(copy, "s,1,2;x,y;w,notanumber;" + settle_event("k", copy.minute.slot(T0), (0, -5, 0)))
    assert copy.used(T0 + 1)["tpm"] == 118


def test_a_ledger_stored_by_the_second_core_keeps_its_limits_and_drops_its_day_sums():
    old = '{"m":[7200000000,1,100],"d":[],"l":{"rpm":[45,"429",1800000000.0]},"c":{"tpd":5000},"u":{"3":1.0},"p":0}'
    ledger = Ledger.loads(old)
    assert ledger.learned["rpm"].value == 45 and ledger.ceilings == {"tpd": 5000} and ledger.lru == {3: 1.0}
    assert ledger.used(T0)["rpd"] == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_admissions_keep_every_window_within_every_limit(seed):
    rng = random.Random(seed)
    ledger = hard(rpm=7, tpm=2000)
    now, sent = T0, []
    for _ in range(120):
        now += rng.expovariate(0.5)
        tokens = rng.randint(20, 700)
        got = at(ledger, now, tokens, wait=rng.choice([0, 5, 30, 120]))
        if got.within:
            admit(ledger, got.at, tokens)
            sent.append((got.at, tokens))
        ledger.prune(now)
    times = [t for t, _ in sent]
    assert most_in_any_window(times, MINUTE + MARGIN) <= 7
    for t, _ in sent:
        in_window = sum(k for u, k in sent if t - MINUTE - MARGIN < u <= t)
        assert in_window <= 2000


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_one_windows_sum_is_the_general_sum_at_that_slot(seed):
    """The hot path's one-window sum (`_sum_at`) and the sweep `first_fit` uses (`_sums`) count
    the same, the provider's word (its cap, its wait, its reset, what it counted beyond ours)
    applied."""
    rng = random.Random(seed)
    ring = Ring()
    base = ring.slot(T0)
    for _ in range(200):
        ring.add(base + rng.randint(-300, 300), (rng.randint(0, 2), rng.randint(0, 500), rng.randint(0, 300)))
    for kind in ("rpm", "tpm"):
        slot = base + rng.randint(-100, 100)
        ring.hear(kind, slot=slot, value=rng.randint(0, 400), free_at=ring.start(slot + rng.randint(1, 300)),
                  rest=rng.randint(0, 50), rest_at=ring.start(slot + rng.randint(1, 50)),
                  total=rng.randint(0, 900), upto=slot + rng.randint(0, 20))
    for kind in ring.measures:
        general = ring._sums(base - 400, base + 400, kind)
        assert [ring._sum_at(j, kind) for j in range(base - 400, base + 401)] == general


def test_merging_adds_usage_and_keeps_the_better_founded_limits():
    target, other = hard(rpm=45), Ledger()
    for i in range(10):
        admit(target, T0 + i)
    for i in range(20):
        admit(other, T0 + i * 0.5)
    other.learn("tpd", 300_000, REFUSAL, T0 + 50)
    target.absorb(other)
    assert target.used(T0 + 20)["rpm"] == 30
    assert target.learned["tpd"].value == 300_000 and target.learned["rpm"].value == 45


def test_a_day_period_is_never_learned_from_too_little_evidence():
    ledger = Ledger()
    apply_inbox(ledger, word_event("rpd", sent=T0, received=T0, limit=1000, remaining=999, reset=0.5, own=1))
    assert ledger.period == DAY


def test_the_days_shape_is_told_apart_by_how_its_reset_moves_with_what_is_used():
    from keymanager.ledger.day import BUCKET, ROLLING, shape_from

    # A bucket: the reset is what is used times one request's refill time (here 6 s).
    assert shape_from([[d, d * 6.0] for d in (5, 9, 14, 20, 26)]) == BUCKET
    # A rolling window: the reset is the newest request's age, about a period, whatever is used.
    assert shape_from([[d, 86_390.0 + d % 3] for d in (5, 9, 14, 20, 26)]) == ROLLING
    # Too little variation in what is used: it cannot tell, and the shape stays as it was.
    assert shape_from([[30, 170.0], [30, 180.0], [29, 175.0], [30, 172.0]]) is None


@pytest.mark.parametrize("period", [119.8, 119.79, 3600.7])
def test_a_reserved_call_finds_its_admission_where_it_was_counted_after_the_ledger_is_stored(period):
    """A slot of a learned rolling day (its period / 128 wide) seldom starts on a whole
    millisecond, and the ledger stores times to the millisecond: a call reserved at a slot's
    start is counted in that slot, and once the ledger has been stored and read back, its
    settle (a release, the re-check before sending) takes it out of that same slot."""
    from keymanager.ledger.state import day_ring

    cost = Cost(input=10)
    first = day_ring(period).slot(T0)
    for slot in range(first, first + 300):
        ledger = hard()
        ledger.rolling_day = day_ring(period)
        at = ledger.rolling_day.start(slot)
        mslot = ledger.admit(at, cost, ledger.limits(TIGHT, NO_PEERS, at), token="call", deadline=at + 60)
        assert set(ledger.rolling_day.slices) == {slot}
        stored = Ledger.loads(ledger.dumps())
        stored.settle("call", mslot, cost.negative())
        assert stored.rolling_day.slices == {} and stored.minute.slices == {}


def test_the_reply_of_a_call_sent_within_a_millisecond_does_not_count_that_call_twice():
    """A call's events name its send time to the millisecond; its admission is kept at the same
    millisecond, so the provider's word (which counts the call) and the pool's "admitted since the
    call was sent" (which must not) agree on which side the call is."""
    ledger = hard(rpd=40, rpm=10**6, tpm=10**9, tpd=10**12)
    ledger.period = 120.0
    sent = T0 + 0.0004  # not a whole millisecond
    admit(ledger, sent, token="call", deadline=sent + 60)
    apply_inbox(ledger, word_event("rpd", sent=sent, received=sent + 0.2, limit=40, remaining=39, reset=3.0,
                                   own=1))
    assert ledger.day["rpd"].deficit(sent + 0.2, ledger.rate("rpd", ledger.limits(TIGHT, NO_PEERS, sent))) <= 1.0
