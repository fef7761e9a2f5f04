"""Canned, factually correct astronomy content for the stub's completions.

The project asks the model for space-quest JSON; the stub answers from a small built-in set so
tests and demos get well-formed, true content without a real model.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from .limits import message_text

# Each question: (prompt, correct option, three wrong options, explanation).
QUESTS: list[dict[str, Any]] = [
    {
        "title": "Tour of the Inner Planets",
        "briefing": (
            "Mercury, Venus, Earth and Mars are the rocky planets closest to the Sun. "
            "Mercury is the planet closest to the Sun, orbiting at about 58 million km. "
            "Venus is the hottest of them because its thick carbon dioxide atmosphere traps heat. "
            "Mars owes its red colour to iron oxide (rust) in its dust and rocks. "
            "All four have solid surfaces of rock and metal, unlike the giant planets farther out."
        ),
        "questions": [
            ("Which planet is closest to the Sun?", "Mercury", ["Venus", "Mars", "Earth"],
             "Mercury orbits the Sun at an average distance of about 58 million km, closer than any other planet."),
            ("Why is Venus hotter than Mercury?", "Its thick carbon dioxide atmosphere traps heat",
             ["It is closer to the Sun", "It spins faster than any other planet", "Its core is made of burning coal"],
             "Venus is farther from the Sun than Mercury, but a runaway greenhouse effect keeps it near 465 °C."),
            ("What gives Mars its red colour?", "Iron oxide (rust) in its dust and rocks",
             ["Light reflected from Jupiter", "Red ice at its poles", "Oceans of molten lava"],
             "Iron minerals in the Martian soil have oxidised, giving the dust a rusty red colour."),
        ],
    },
    {
        "title": "Among the Giant Planets",
        "briefing": (
            "Beyond the asteroid belt lie the four giant planets, worlds of gas and ice with no solid ground, "
            "each circled by many moons. "
            "Jupiter is the largest planet in the Solar System, more than 300 times as massive as Earth. "
            "Saturn's rings are made mostly of chunks of water ice, with a little rock and dust. "
            "Neptune, the farthest planet from the Sun, takes about 165 Earth years to complete one orbit."
        ),
        "questions": [
            ("Which is the largest planet in the Solar System?", "Jupiter", ["Saturn", "Neptune", "Uranus"],
             "Jupiter's diameter is about 11 times Earth's and its mass about 318 Earth masses."),
            ("What are Saturn's rings mainly made of?", "Chunks of water ice", ["Molten rock", "Glowing gas", "Iron dust"],
             "The rings are mostly water ice, from tiny grains to pieces metres across, with a little rock."),
            ("About how long does Neptune take to orbit the Sun?", "About 165 years",
             ["About 12 years", "About 29 years", "About 84 years"],
             "Neptune needs about 165 Earth years; 12, 29 and 84 years are the periods of Jupiter, Saturn and Uranus."),
        ],
    },
    {
        "title": "Our Star, the Sun",
        "briefing": (
            "The Sun holds more than 99% of the mass of the Solar System, and its gravity keeps every planet in orbit. "
            "The Sun is a G-type main-sequence star that has shone for about 4.6 billion years. "
            "It is powered by the nuclear fusion of hydrogen into helium in its core, at about 15 million °C. "
            "Its light takes about 8 minutes and 20 seconds to reach Earth, 150 million km away."
        ),
        "questions": [
            ("About how long does sunlight take to reach Earth?", "About 8 minutes",
             ["About 8 seconds", "About 8 hours", "About 8 days"],
             "Light covers the 150 million km between the Sun and Earth in roughly 8 minutes 20 seconds."),
            ("What powers the Sun?", "Nuclear fusion of hydrogen into helium",
             ["Nuclear fission of uranium", "Chemical burning of carbon", "Radioactive decay of iron"],
             "In the Sun's core, at about 15 million °C, hydrogen nuclei fuse into helium and release energy."),
            ("What kind of star is the Sun?", "A G-type main-sequence star",
             ["A red giant", "A white dwarf", "A neutron star"],
             "The Sun is a yellow dwarf (G2V) that has been fusing hydrogen for about 4.6 billion years."),
        ],
    },
    {
        "title": "Moons and Tides",
        "briefing": (
            "The Moon orbits Earth at an average distance of about 384,000 km. "
            "It always shows us the same face because it is tidally locked: it rotates once for every orbit around Earth. "
            "The Moon's gravity is the main cause of Earth's ocean tides, raising two bulges of water that Earth turns through each day. "
            "Jupiter's moon Ganymede is the largest moon in the Solar System, bigger than the planet Mercury."
        ),
        "questions": [
            ("Why do we always see the same side of the Moon?", "It rotates once for every orbit around Earth",
             ["It does not rotate at all", "Earth's shadow hides the other side", "The far side never gets sunlight"],
             "Tidal locking has matched the Moon's rotation period to its 27.3-day orbit."),
            ("What mainly causes ocean tides on Earth?", "The Moon's gravity",
             ["Wind over the oceans", "Earth's magnetic field", "Sunlight heating the water"],
             "The Moon's pull, helped by the Sun's, raises two tidal bulges that Earth rotates through each day."),
            ("Which is the largest moon in the Solar System?", "Ganymede", ["Titan", "Earth's Moon", "Europa"],
             "Ganymede, orbiting Jupiter, is about 5,268 km across, larger than Mercury."),
        ],
    },
    {
        "title": "Stars and Galaxies",
        "briefing": (
            "Proxima Centauri, about 4.2 light-years away, is the closest known star to the Sun. "
            "A light-year is the distance light travels in one year, about 9.46 trillion km. "
            "The Sun is one of hundreds of billions of stars in the Milky Way. "
            "The Milky Way is a barred spiral galaxy about 100,000 light-years across, and the Sun takes about "
            "230 million years to circle its centre."
        ),
        "questions": [
            ("What is a light-year?", "The distance light travels in one year",
             ["The time Earth takes to orbit the Sun", "The brightness of a star in one year",
              "The age of the oldest known star"],
             "A light-year is a distance, about 9.46 trillion km, not a unit of time."),
            ("Which star is closest to the Sun?", "Proxima Centauri", ["Sirius", "Betelgeuse", "Polaris"],
             "Proxima Centauri lies about 4.2 light-years away; Sirius is about 8.6 light-years away."),
            ("What type of galaxy is the Milky Way?", "A barred spiral galaxy",
             ["An elliptical galaxy", "An irregular galaxy", "A ring galaxy"],
             "The Milky Way has spiral arms and a central bar of stars, about 100,000 light-years across."),
        ],
    },
]

SENTENCES = [
    "Jupiter is the largest planet in the Solar System, more than 300 times as massive as Earth.",
    "Sunlight takes about 8 minutes and 20 seconds to travel from the Sun to Earth.",
    "The Moon is tidally locked to Earth, so it always shows us the same face.",
    "Saturn's rings are made mostly of water ice, with a small amount of rocky material.",
    "Proxima Centauri, about 4.2 light-years away, is the closest known star to the Sun.",
    "Venus is the hottest planet because its thick carbon dioxide atmosphere traps heat.",
    "The Milky Way is a barred spiral galaxy containing hundreds of billions of stars.",
    "Mars appears red because iron oxide dust covers much of its surface.",
]


def quest(rng: random.Random) -> dict[str, Any]:
    """A quest object with options shuffled; ``answer`` indexes the correct option."""
    src = rng.choice(QUESTS)
    questions = []
    sentences = split_sentences(src["briefing"])
    for prompt, right, wrong, explanation in src["questions"]:
        options = [right, *wrong]
        rng.shuffle(options)
        questions.append(
            {
                "prompt": prompt,
                "options": options,
                "answer": options.index(right),
                "fact": best_fact(sentences, right),
                "explanation": explanation,
            }
        )
    return {"title": src["title"], "briefing": src["briefing"], "questions": questions}


def split_sentences(text: str) -> list[str]:
    return [part.strip() for part in re.split(r"(?<=[.!?])\s+", text) if part.strip()]


def best_fact(sentences: list[str], answer: str) -> str:
    """The briefing sentence sharing most words with the answer: the game asks for the fact
    that gives each answer, quoted from the briefing."""
    words = {w for w in re.findall(r"\w+", answer.lower()) if len(w) > 2}
    return max(sentences, key=lambda s: len(words & set(re.findall(r"\w+", s.lower()))))


def sentence(rng: random.Random, count: int = 2) -> str:
    return " ".join(rng.sample(SENTENCES, count))


def generate(messages: list[Any], response_format: Any, rng: random.Random) -> str:
    """Reply text for a completion that has no scripted content."""
    if isinstance(response_format, dict) and response_format.get("type") == "json_object":
        mentions = any(
            "questions" in message_text(m.get("content")).lower() for m in messages if isinstance(m, dict)
        )
        obj = quest(rng) if mentions else {"reply": sentence(rng, 1)}
        return json.dumps(obj, ensure_ascii=False)
    return sentence(rng, rng.choice((1, 2)))
