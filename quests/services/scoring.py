"""XP and ranks: the game's numbers in one place (streaks: services.streaks)."""

from __future__ import annotations

from dataclasses import dataclass

from quests.models import Tier

XP_PER_CORRECT = 10
PERFECT_BONUS = 20
# Harder tiers pay more per answer: XP per correct answer and perfect bonus are multiplied.
TIER_XP_FACTOR = {Tier.CADET: 1.0, Tier.OFFICER: 1.5, Tier.COMMANDER: 2.0}
# The rank that unlocks each tier.
TIER_UNLOCK_RANK = {Tier.CADET: "Cadet", Tier.OFFICER: "Lieutenant", Tier.COMMANDER: "Commander"}
# A day's streak adds this much to a run's XP, up to STREAK_BONUS_CAP.
STREAK_BONUS_PER_DAY = 2
STREAK_BONUS_CAP = 10

# (minimum XP, rank): Cadet to Fleet Admiral.
RANKS: list[tuple[int, str]] = [
    (0, "Cadet"),
    (50, "Ensign"),
    (150, "Lieutenant"),
    (300, "Lieutenant Commander"),
    (500, "Commander"),
    (800, "Captain"),
    (1200, "Commodore"),
    (1700, "Rear Admiral"),
    (2300, "Vice Admiral"),
    (3000, "Admiral"),
    (4000, "Fleet Admiral"),
]


@dataclass(frozen=True)
class Rank:
    name: str
    xp: int
    level: int  # 1-based position in RANKS
    floor: int
    next_name: str | None
    next_at: int | None

    @property
    def progress(self) -> int:
        """Percent of the way from this rank to the next, for the progress bar."""
        if self.next_at is None:
            return 100
        return max(0, min(100, round(100 * (self.xp - self.floor) / (self.next_at - self.floor))))

    @property
    def xp_to_next(self) -> int | None:
        return None if self.next_at is None else self.next_at - self.xp


def rank_for(xp: int) -> Rank:
    level = 0
    for i, (floor, _name) in enumerate(RANKS):
        if xp >= floor:
            level = i
    floor, name = RANKS[level]
    nxt = RANKS[level + 1] if level + 1 < len(RANKS) else None
    return Rank(
        name=name,
        xp=xp,
        level=level + 1,
        floor=floor,
        next_name=nxt[1] if nxt else None,
        next_at=nxt[0] if nxt else None,
    )


def run_xp(*, correct: int, total: int, streak_days: int, tier: str = Tier.CADET) -> int:
    """XP for one answered run: per correct answer, a perfect-run bonus (both larger on harder
    tiers), a small streak bonus."""
    if correct <= 0:
        return 0
    xp = correct * XP_PER_CORRECT
    if correct == total:
        xp += PERFECT_BONUS
    xp = round(xp * TIER_XP_FACTOR[Tier(tier)])
    xp += min(STREAK_BONUS_CAP, STREAK_BONUS_PER_DAY * max(0, streak_days - 1))
    return xp


@dataclass(frozen=True)
class TierAccess:
    tier: Tier
    unlocked: bool
    unlock_rank: str
    unlock_xp: int
    xp_factor: float


def tier_unlock_xp(tier: str) -> int:
    return next(floor for floor, name in RANKS if name == TIER_UNLOCK_RANK[Tier(tier)])


def tiers_for(xp: int) -> list[TierAccess]:
    """Every tier, in order, and whether a player with this much XP may fly it."""
    return [
        TierAccess(
            tier=tier,
            unlocked=xp >= tier_unlock_xp(tier),
            unlock_rank=TIER_UNLOCK_RANK[tier],
            unlock_xp=tier_unlock_xp(tier),
            xp_factor=TIER_XP_FACTOR[tier],
        )
        for tier in Tier
    ]


def tier_unlocked(*, xp: int, tier: str) -> bool:
    return xp >= tier_unlock_xp(tier)
