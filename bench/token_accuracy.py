"""How close the pool's prompt count comes to the provider's, over the game's real prompts.

Every prompt the game sends (each quest, tier and topic, plus the retry prompt that names a
validation problem) is counted three ways beside the Groq stand-in's own tokenizer (which is
not the pool's: words by five letters, numbers by three digits, every other mark alone):

- the second core's estimate (about 3 characters a token, at least one per word or mark);
- the pool's tokenizer alone (o200k_base through tiktoken, per-message overhead);
- the pool's count as a budget applies it: the tokenizer times the ratio that budget learned
  from the provider's reported usage. The ratio is learned by sending the first half of the
  prompts through `complete()` to the stand-in; the error is measured on the other half.

    .venv/bin/python bench/token_accuracy.py            # SQLite, a few seconds
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import configure_environment, create_database, setup_django  # noqa: E402


def second_core_estimate(messages: list[dict]) -> int:
    """The estimate the pool used before its tokenizer (kept here as the baseline)."""
    total = 0
    for message in messages:
        content = str(message.get("content") or "")
        words = len(content.split())
        marks = sum(1 for ch in content if not ch.isalnum() and not ch.isspace())
        total += max(math.ceil(len(content) / 3), words + marks) + 6
    return total + 3


def game_prompts() -> list[list[dict]]:
    from quests.models import Quest, Tier
    from quests.services.generation import build_messages, tier_config

    prompts = []
    for quest in Quest.objects.order_by("number"):
        for tier in Tier.values:
            config = tier_config(quest=quest, tier=tier)
            for topic in quest.topic_list() or [quest.theme]:
                prompts.append(build_messages(quest=quest, topic=topic, config=config))
                prompts.append(build_messages(quest=quest, topic=topic, config=config,
                                              problem="question 2: the fact is not quoted word for word"))
    return prompts


def errors(counts: list[float], truth: list[int]) -> tuple[float, float]:
    relative = [abs(c - t) / t for c, t in zip(counts, truth, strict=True)]
    return statistics.mean(relative), max(relative)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="sqlite")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    configure_environment(args.db, name="cosmosquest_bench_tokens")
    from keymanager.testing.groqstub import GroqStub, make_key, prompt_tokens

    key = make_key()
    roomy = {"rpm": 10**5, "rpd": 10**7, "tpm": 10**9, "tpd": 10**10}
    models = ("openai/gpt-oss-20b", "openai/gpt-oss-120b")
    stub = GroqStub(orgs={"org_a": {"keys": [key]}}, default_limits=dict.fromkeys(models, roomy)).start()
    os.environ["GROQ_BASE_URL"] = stub.url
    create_database(args.db)
    setup_django()
    from keymanager.models import Budget
    from keymanager.services import complete
    from keymanager.services.budgets import ledger_of
    from keymanager.services.keys import key_add
    from keymanager.tokens import count_prompt

    key_add(provider="groq", name="bench", secret=key, organization="org_a")
    prompts = game_prompts()
    random.Random(args.seed).shuffle(prompts)
    learn, held_out = prompts[: len(prompts) // 2], prompts[len(prompts) // 2 :]
    for messages in learn:
        complete(messages=messages, max_tokens=50, purpose="bench-tokens")
    # Each model's budget learns its own ratio; prompts are measured against the ratio of theirs.
    ratios = {b.model: ledger_of(b).token_ratio for b in Budget.objects.all()}
    ratio = statistics.mean(ratios.values())
    stub.stop()

    truth = [prompt_tokens(m) for m in held_out]
    rows = [
        ("second core: ~3 characters a token", [second_core_estimate(m) for m in held_out]),
        ("tokenizer alone (o200k_base)", [count_prompt(m) for m in held_out]),
        (f"tokenizer x learned ratio (~{ratio:.3f})", [math.ceil(count_prompt(m) * ratio) for m in held_out]),
    ]
    print(f"{len(prompts)} game prompts ({len(learn)} sent to learn the ratio, {len(held_out)} measured); "
          f"the stand-in's count: median {statistics.median(truth)} tokens")
    print(f"{'count':42} {'mean error':>10} {'max error':>10}")
    for name, counts in rows:
        mean, worst = errors(counts, truth)
        print(f"{name:42} {mean:>10.1%} {worst:>10.1%}")


if __name__ == "__main__":
    main()
