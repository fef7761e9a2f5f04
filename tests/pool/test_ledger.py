"""The budget ledger on its own: windows, reservations, settling, learning (no database)."""

from __future__ import annotations

import random

import pytest

from keymanager.ledger import (
    DAY,
    HEADER,
    MARGIN,
    MINUTE,
    PROBE,
    REFUSAL,
    Ledger,
    Observation,
    apply_inbox,
    fit,
    observe_event,
    peers_of,
    probe_raise,
    raise_to,
    settle_event,
)

T0 = 1_800_000_000.0  # an arbitrary epoch second
TIGHT = {"rpm": 30, "rpd": 1000, "tpm": 8000, "tpd": 200000}


def hard(**values) -> Ledger:
    """A ledger whose limits are all confirmed (as if the provider had stated them)."""
    ledger = Ledger()
    for kind, value in {**TIGHT, **values}.items():
        ledger.learn(kind, value, HEADER, T0)
    return ledger


def most_in_any_window(times: list[float], period: float) -> int:
    """What a rolling-window provider would count at its worst moment."""
    times = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - period:
            j += 1
        best = max(best, i - j + 1)
    return best


def test_a_full_minute_admits_nothing_more_until_its_first_request_leaves_it():
    ledger = hard(rpm=3)
    for i in range(3):
        at = fit(ledger, {}, now=T0 + i, not_before=0, tokens=10, until=T0 + i + 20)
        assert at.at == T0 + i and at.within
        ledger.admit(at.at, 10)
    beyond = fit(ledger, {}, now=T0 + 5, not_before=0, tokens=10, until=T0 + 25)
    # Not within the wait: nothing held, and it says when (one minute, plus slice and margin).
    assert not beyond.within and T0 + MINUTE <= beyond.at <= T0 + MINUTE + 2 * MARGIN + 0.25
    later = fit(ledger, {}, now=T0 + 5, not_before=0, tokens=10, until=T0 + 90)
    assert later.within and later.at == beyond.at


def test_reservations_are_first_come_first_served_and_never_overrun_a_rolling_window():
    ledger = hard(rpm=5, tpm=10**6)
    rng = random.Random(4)
    now, sent = T0, []
    for _ in range(40):
        now += rng.uniform(0, 2)
        got = fit(ledger, {}, now=now, not_before=0, tokens=100, until=now + 600)
        assert got.within and got.at >= now
        ledger.admit(got.at, 100)
        # Each caller's slot is no earlier than the one before it: arrival order is kept.
        assert not sent or got.at >= sent[-1]
        sent.append(got.at)
    # A provider counting any 60 s (even stretched by the margin) never sees more than 5.
    assert most_in_any_window(sent, MINUTE + MARGIN) <= 5
    # And the pool wastes little: 40 calls at 5 a minute need a bit under 8 minutes.
    assert sent[-1] - sent[0] < 8 * (MINUTE + 1)


def test_a_later_small_call_may_use_a_gap_but_never_delays_an_earlier_reservation():
    ledger = hard(rpm=100, tpm=1000)
    ledger.admit(T0, 900)  # the minute is almost full of tokens
    big = fit(ledger, {}, now=T0 + 1, not_before=0, tokens=600, until=T0 + 120)
    ledger.admit(big.at, 600)
    small = fit(ledger, {}, now=T0 + 1, not_before=0, tokens=50, until=T0 + 120)
    assert small.at == T0 + 1  # 900 + 50 fits now and leaves the big one's window within 1000
    ledger.admit(small.at, 50)
    # A call that would fit now but push the window at the big reservation over: it waits.
    other = fit(ledger, {}, now=T0 + 2, not_before=0, tokens=400, until=T0 + 300)
    assert other.at > big.at


def test_settling_releases_tokens_in_the_slice_they_were_reserved_in():
    ledger = hard(tpm=1000)
    mslot, dslot = ledger.admit(T0, 900)
    assert not fit(ledger, {}, now=T0 + 1, not_before=0, tokens=900, until=T0 + 2).within
    apply_inbox(ledger, settle_event(mslot, dslot, 0, 60 - 900))  # the call used 60
    assert ledger.used(T0 + 1)["tpm"] == 60
    assert fit(ledger, {}, now=T0 + 1, not_before=0, tokens=900, until=T0 + 2).at == T0 + 1
    # A refused request is given back whole, its request included.
    apply_inbox(ledger, settle_event(mslot, dslot, -1, -60))
    assert ledger.used(T0 + 1) == {"rpm": 0, "tpm": 0, "rpd": 0, "tpd": 0}


def test_an_admission_nobody_settles_ages_out_of_the_ring():
    ledger = hard(rpm=1)
    ledger.admit(T0, 100)  # the caller died: nobody will ever settle it
    assert not fit(ledger, {}, now=T0 + 30, not_before=0, tokens=10, until=T0 + 31).within
    ledger.prune(T0 + MINUTE + 1)
    assert not ledger.minute.slices  # gone from the minute, the cost does not grow
    assert fit(ledger, {}, now=T0 + MINUTE + 1, not_before=0, tokens=10, until=T0 + MINUTE + 2).within
    ledger.prune(T0 + DAY + 2000)  # a day, plus at most one slice of the day's ring
    assert not ledger.day.slices


def test_the_ring_stays_bounded_whatever_the_history():
    ledger = hard(rpm=10**6, rpd=10**9, tpm=10**9, tpd=10**12)
    for i in range(200_000):  # about two days of 1 call a second
        ledger.admit(T0 + i, 50)
        if i % 1000 == 0:
            ledger.prune(T0 + i)
    ledger.prune(T0 + 200_000)
    assert len(ledger.minute.slices) <= ledger.minute.span + 1
    assert len(ledger.day.slices) <= ledger.day.span + 1
    assert len(ledger.dumps()) < 20_000


def test_a_header_below_the_local_count_raises_it_until_the_reset_it_names():
    ledger = hard(tpm=6000)
    ledger.admit(T0, 1000)
    # The provider says only 2,000 of 6,000 are left, restored in 10 s: someone else spent 3,000.
    apply_inbox(ledger, observe_event(T0 + 1, limit_requests=1000, remaining_requests=990, reset_requests=90.0,
                                      limit_tokens=6000, remaining_tokens=2000, reset_tokens=10.0))
    assert ledger.used(T0 + 1)["tpm"] == 4000
    assert ledger.used(T0 + 12)["tpm"] == 1000  # the outsider's share has reset, ours has not
    # A header above the local count changes nothing (the pool never under-counts its own).
    apply_inbox(ledger, observe_event(T0 + 13, limit_requests=1000, remaining_requests=999, reset_requests=1.0,
                                      limit_tokens=6000, remaining_tokens=5900, reset_tokens=1.0))
    assert ledger.used(T0 + 13)["tpm"] == 1000


def test_a_stale_or_odd_reset_never_implies_a_wait_longer_than_the_limits_period():
    ledger = hard(tpm=6000)
    raise_to(ledger.minute, T0, tokens=6000, reset=86_400.0)  # a day, for a per-minute limit
    assert fit(ledger, {}, now=T0 + MINUTE + 1, not_before=0, tokens=100, until=T0 + MINUTE + 2).within


def test_headers_teach_the_limits_they_state():
    ledger = Ledger()
    ledger.observe(Observation(T0, 1990, 60.0, 11_500, 3.0), limit_requests=2000, limit_tokens=12_000)
    assert (ledger.learned["rpd"].value, ledger.learned["rpd"].source) == (2000, HEADER)
    assert (ledger.learned["tpm"].value, ledger.learned["tpm"].source) == (12_000, HEADER)
    # RPM and TPD appear in no header: the shipped guess stands, soft.
    limits = ledger.limits(TIGHT)
    assert limits["rpm"] == (30.0, False) and limits["tpm"] == (12_000.0, True)
    # An older report folded late does not undo a newer one.
    ledger.observe(Observation(T0 - 5, 1999, 60.0, 12_000, 0.0), limit_requests=1000, limit_tokens=6000)
    assert ledger.learned["tpm"].value == 12_000


def test_an_admins_ceiling_caps_what_was_learned_and_what_probing_may_try():
    ledger = Ledger()
    ledger.learn("rpm", 1000, REFUSAL, T0)
    ledger.ceilings = {"rpm": 40, "tpd": 50_000}
    limits = ledger.limits(TIGHT)
    assert limits["rpm"] == (40.0, True) and limits["tpd"] == (50_000.0, True)
    for i in range(40):
        ledger.admit(T0 + i * 0.1, 10)
    got = fit(ledger, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6)
    assert not got.within and not got.probe


def test_an_admins_ceiling_is_worked_up_to_unless_the_provider_states_less():
    ledger = Ledger()
    ledger.ceilings = {"rpm": 1000}
    # Above the shipped guess of 30: the admin knows the tier, the pool uses it, no probing.
    assert ledger.limits(TIGHT)["rpm"] == (1000.0, True)
    ledger.learn("rpm", 900, PROBE, T0)  # an unconfirmed value does not lower it
    assert ledger.limits(TIGHT)["rpm"] == (1000.0, True)
    ledger.learn("rpm", 60, REFUSAL, T0)  # the provider says less: that holds
    assert ledger.limits(TIGHT)["rpm"] == (60.0, True)


def test_one_call_at_a_time_may_probe_past_a_guess_and_raises_it():
    ledger = Ledger()  # nothing learned: the shipped guess of 30 RPM is soft
    for i in range(30):
        ledger.admit(T0 + i * 0.1, 10)
    got = fit(ledger, TIGHT, now=T0 + 4, not_before=0, tokens=10, until=T0 + 5)
    assert got.probe and got.at == T0 + 4
    probe_raise(ledger, TIGHT, T0 + 4, 10)
    ledger.probe_until = T0 + 30
    ledger.admit(T0 + 4, 10)
    assert (ledger.learned["rpm"].value, ledger.learned["rpm"].source) == (31, PROBE)
    # While that probe is in flight, nobody else goes past the (raised) guess.
    assert not fit(ledger, TIGHT, now=T0 + 4.1, not_before=0, tokens=10, until=T0 + 5).probe
    # A confirmed limit is never probed past.
    ledger.learn("rpm", 31, REFUSAL, T0 + 5)
    ledger.probe_until = 0.0
    assert not fit(ledger, TIGHT, now=T0 + 6, not_before=0, tokens=10, until=T0 + 7).probe


def busy(requests: int) -> Ledger:
    """A ledger at its shipped guesses with `requests` calls in the last minute."""
    ledger = Ledger()
    for i in range(requests):
        ledger.admit(T0 + i * 0.1, 10)
    return ledger


def test_a_limit_stated_to_one_organization_holds_for_its_peers_without_a_429_each():
    told, other = Ledger(), busy(45)
    told.learn("rpm", 45, REFUSAL, T0)
    alone = fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6)
    assert alone.probe  # on its own it would go past its guess and collect its own 429
    _, peers = peers_of([told, other], T0 + 5)
    got = fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers)
    assert not got.probe and not got.within  # 45 is the tier's limit: wait, do not probe
    assert other.limits(TIGHT, peers)["rpm"] == (45.0, True)
    # What a peer's headers state holds too until this organization's own headers say.
    told.learn("tpm", 12_000, HEADER, T0)
    _, peers = peers_of([told, other], T0 + 5)
    assert other.limits(TIGHT, peers)["tpm"] == (12_000.0, True)
    # Below the stated limit it works as usual.
    assert fit(busy(44), TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers).at == T0 + 5


def test_organizations_on_other_published_limits_are_not_peers():
    told, other = Ledger(), busy(45)
    told.learn("rpm", 45, REFUSAL, T0)
    told.learn("rpd", 1000, HEADER, T0)
    other.learn("rpd", 14_400, HEADER, T0)  # another tier: its headers say so
    _, peers = peers_of([told, other], T0 + 5)
    assert fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers).probe
    # An organization served past a peer's stated limit is on another tier too: it keeps its own.
    other = busy(50)
    other.learn("rpm", 50, PROBE, T0)
    _, peers = peers_of([told, other], T0 + 5)
    assert other.limits(TIGHT, peers)["rpm"] == (50.0, False)


def test_peers_probe_one_at_a_time_and_share_what_a_probe_got_through():
    prober, other = Ledger(), busy(35)
    prober.learn("rpm", 36, PROBE, T0)
    prober.probe_until = T0 + 30  # its probe is in flight
    _, peers = peers_of([prober, other], T0 + 5)
    # 36 got through at a peer: up to it is no probe here; past it, wait for the peer's probe.
    assert fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers).at == T0 + 5
    other.admit(T0 + 5, 10)
    got = fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers)
    assert not got.probe and not got.within
    prober.probe_until = 0.0
    _, peers = peers_of([prober, other], T0 + 5)
    assert fit(other, TIGHT, now=T0 + 5, not_before=0, tokens=10, until=T0 + 6, peers=peers).probe


def test_an_admins_ceiling_is_not_shared_with_peers():
    capped, other = Ledger(), busy(30)
    capped.ceilings["rpm"] = 10
    _, peers = peers_of([capped, other], T0 + 5)
    assert other.limits(TIGHT, peers)["rpm"] == (30.0, False)


def test_a_request_larger_than_a_hard_token_limit_never_fits():
    ledger = hard(tpm=500)
    got = fit(ledger, {}, now=T0, not_before=0, tokens=600, until=T0 + 100)
    assert got.at is None and not got.within
    # Past a mere guess it may still be tried (the real limit may be larger).
    assert fit(Ledger(), {"tpm": 500}, now=T0, not_before=0, tokens=600, until=T0 + 1).probe


def test_not_before_moves_the_slot_past_a_cooldown_and_the_window_both():
    ledger = hard(rpm=1)
    ledger.admit(T0, 10)
    got = fit(ledger, {}, now=T0 + 1, not_before=T0 + 3, tokens=10, until=T0 + 300)
    assert got.at >= T0 + MINUTE  # the window, not the earlier cooldown end, decides
    free = fit(Ledger(), {}, now=T0 + 1, not_before=T0 + 3, tokens=10, until=T0 + 300)
    assert free.at == T0 + 3  # an empty window: the cooldown end decides


def test_the_ledger_survives_storage_and_a_malformed_event():
    ledger = hard()
    ledger.admit(T0, 123)
    ledger.lru[7] = T0
    copy = Ledger.loads(ledger.dumps())
    assert copy.dumps() == ledger.dumps()
    apply_inbox(copy, "s,1,2;x,y;h,notanumber;" + settle_event(*copy.admit(T0 + 1, 10), 0, -5))
    assert copy.used(T0 + 1)["tpm"] == 128


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_admissions_keep_every_window_within_every_limit(seed):
    rng = random.Random(seed)
    ledger = hard(rpm=7, tpm=2000)
    now, sent = T0, []
    for _ in range(120):
        now += rng.expovariate(0.5)
        tokens = rng.randint(20, 700)
        got = fit(ledger, {}, now=now, not_before=0, tokens=tokens, until=now + rng.choice([0, 5, 30, 120]))
        if got.within:
            ledger.admit(got.at, tokens)
            sent.append((got.at, tokens))
        ledger.prune(now)
    times = [t for t, _ in sent]
    assert most_in_any_window(times, MINUTE + MARGIN) <= 7
    for t, _ in sent:
        in_window = sum(k for u, k in sent if t - MINUTE - MARGIN < u <= t)
        assert in_window <= 2000


def test_outside_usage_is_replaced_by_the_providers_latest_word_not_added_up():
    ledger = hard(rpm=45)
    for i in range(10):
        ledger.admit(T0 + i, 10)
    # Twice in a row the provider says 30 requests are counted: 20 are someone else's, once.
    raise_to(ledger.minute, T0 + 10, requests=30)
    raise_to(ledger.minute, T0 + 11, requests=30)
    assert ledger.used(T0 + 11)["rpm"] == 30
    # Those 20 turn out to be a second key of the same organization, merged in: the provider's
    # next word (still 30) leaves nothing outside, instead of counting them twice.
    other = hard(rpm=45)
    for i in range(20):
        other.admit(T0 + i * 0.5, 10)
    from keymanager.services.organizations import _absorb

    _absorb(ledger, other)
    raise_to(ledger.minute, T0 + 12, requests=30)
    assert ledger.used(T0 + 12)["rpm"] == 30
