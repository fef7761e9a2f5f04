"""Named things of the game's astronomy, by kind: planets, moons, stars, exoplanets, spacecraft,
people, surface features. A name may have several kinds ("Galileo" is a person and a
spacecraft; "Pluto" is a dwarf planet that was long counted among the planets).

Lookup is by the whole option, case-insensitively, without a leading "the"; names the lists do
not hold are still recognised by their form ("Gusev crater", "Kepler-452b", "Arsia Mons").
"""

from __future__ import annotations

import re
from functools import cache

_NAMES: dict[str, str] = {
    "planet": "Mercury, Venus, Earth, Mars, Jupiter, Saturn, Uranus, Neptune, Pluto",
    "dwarf planet": "Pluto, Ceres, Eris, Haumea, Makemake",
    "moon": (
        "Moon, Earth's Moon, our Moon, Luna, Io, Europa, Ganymede, Callisto, Amalthea, Himalia, Metis, Adrastea, "
        "Thebe, Titan, Enceladus, Mimas, Tethys, Dione, Rhea, Iapetus, Hyperion, Phoebe, Pan, Daphnis, Atlas, "
        "Prometheus, Pandora, Janus, Epimetheus, Methone, Pallene, Phobos, Deimos, Triton, Nereid, Proteus, "
        "Miranda, Ariel, Umbriel, Titania, Oberon, Charon"
    ),
    "star": (
        "Sun, our Sun, Proxima Centauri, Alpha Centauri, Alpha Centauri A, Alpha Centauri B, Sirius, Betelgeuse, "
        "Polaris, Vega, Rigel, Aldebaran, Arcturus, Antares, Canopus, Deneb, Altair, Barnard's Star, TRAPPIST-1, "
        "51 Pegasi, Tau Ceti, Epsilon Eridani, Fomalhaut, Beta Pictoris, HR 8799, HD 209458, HD 189733, "
        "55 Cancri, Gliese 581, Gliese 667 C, Kepler-186, Kepler-452, Kepler-22, Kepler-16, Kepler-90, WASP-12, "
        "WASP-39, WASP-76, TOI-700, LHS 1140, K2-18, Ross 128, Wolf 359, PSR B1257+12, Tabby's Star"
    ),
    "spacecraft": (
        "Apollo 8, Apollo 10, Apollo 11, Apollo 12, Apollo 13, Apollo 14, Apollo 15, Apollo 16, Apollo 17, "
        "Luna 2, Luna 3, Luna 9, Luna 16, Lunokhod 1, Lunokhod 2, Surveyor 1, Ranger 7, Chang'e 3, Chang'e 4, "
        "Chang'e 5, Chang'e 6, Chandrayaan-1, Chandrayaan-2, Chandrayaan-3, Lunar Prospector, Clementine, "
        "LCROSS, Lunar Reconnaissance Orbiter, LRO, GRAIL, Artemis I, Artemis II, SMART-1, Kaguya, "
        "Voyager 1, Voyager 2, Pioneer 10, Pioneer 11, Galileo, Juno, JUICE, Europa Clipper, New Horizons, "
        "Cassini, Huygens, Cassini-Huygens, Ulysses, Dragonfly, Kepler, TESS, CoRoT, CHEOPS, PLATO, Gaia, "
        "Spitzer, Hubble, Hubble Space Telescope, James Webb Space Telescope, JWST, Webb, Spitzer Space "
        "Telescope, Kepler space telescope, Very Large Telescope, Keck, Arecibo, "
        "Perseverance, Curiosity, Opportunity, Spirit, Sojourner, Zhurong, Ingenuity, InSight, Phoenix, "
        "Viking 1, Viking 2, Mariner 4, Mariner 9, Mars Express, MAVEN, Mars Reconnaissance Orbiter, "
        "Mars Global Surveyor, Mars Odyssey, 2001 Mars Odyssey, ExoMars, Trace Gas Orbiter, Tianwen-1, Hope, "
        "Mars Pathfinder"
    ),
    "person": (
        "Galileo, Galileo Galilei, Isaac Newton, Newton, Johannes Kepler, Kepler, Nicolaus Copernicus, "
        "Copernicus, Tycho Brahe, Christiaan Huygens, Huygens, Giovanni Cassini, Cassini, Giovanni Domenico "
        "Cassini, William Herschel, Herschel, Caroline Herschel, Asaph Hall, Simon Marius, Edwin Hubble, Hubble, "
        "Michel Mayor, Didier Queloz, Aleksander Wolszczan, Carl Sagan, Neil Armstrong, Buzz Aldrin, "
        "Michael Collins, Yuri Gagarin, Gene Cernan, Eugene Cernan, Harrison Schmitt, Alan Shepard, "
        "Edouard Roche, Édouard Roche, Pierre-Simon Laplace, Laplace, Clyde Tombaugh, Urbain Le Verrier, "
        "Johann Galle, James Clerk Maxwell, Albert Einstein, Gerard Kuiper, Jan Oort, Giovanni Schiaparelli, "
        "Percival Lowell, Henrietta Leavitt, Cecilia Payne, Eugene Shoemaker"
    ),
    "crater": (
        "Tycho, Copernicus, Shackleton, Clavius, Aristarchus, Plato, Jezero, Gale, Gusev, Endeavour, Victoria, "
        "Eagle, Hellas, Argyre, Isidis, Valhalla, Asgard, Herschel, Odysseus, Chicxulub, South Pole-Aitken, "
        "South Pole-Aitken basin, Caloris, Caloris basin"
    ),
    "mountain": (
        "Olympus Mons, Arsia Mons, Pavonis Mons, Ascraeus Mons, Elysium Mons, Alba Mons, Aeolis Mons, "
        "Mount Sharp, Tharsis Montes, Maxwell Montes, Mauna Kea, Mauna Loa, Mount Everest, Everest, "
        "Mons Huygens, Mons Hadley, Boösaule Montes, Loki, Loki Patera, Pele, Tvashtar, Ra Patera"
    ),
    "plain": (
        "Sea of Tranquility, Sea of Tranquillity, Ocean of Storms, Sea of Serenity, Sea of Crises, Sea of Rains, "
        "Sea of Showers, Sea of Clouds, Sea of Fertility, Sea of Nectar, Mare Tranquillitatis, Mare Imbrium, "
        "Mare Serenitatis, Mare Crisium, Oceanus Procellarum, Utopia Planitia, Elysium Planitia, Chryse "
        "Planitia, Arcadia Planitia, Acidalia Planitia, Amazonis Planitia, Hellas Planitia, Meridiani Planum, "
        "Tharsis, Syrtis Major, Terra Sabaea, Fra Mauro, Taurus-Littrow, Hadley Rille, Descartes Highlands"
    ),
    "canyon": "Valles Marineris, Grand Canyon, Ithaca Chasma, Noctis Labyrinthus, Kasei Valles, Ares Vallis",
    "ring": (
        "A ring, B ring, C ring, D ring, E ring, F ring, G ring, Phoebe ring, main ring, halo ring, "
        "gossamer ring, gossamer rings, Janus ring, Roche Division"
    ),
    "gap": "Cassini Division, Encke Gap, Keeler Gap, Huygens Gap, Maxwell Gap, Colombo Gap, Roche Division",
    "galaxy": (
        "Milky Way, Andromeda, Andromeda Galaxy, Triangulum Galaxy, Large Magellanic Cloud, Small Magellanic "
        "Cloud, M87, Whirlpool Galaxy, Sombrero Galaxy"
    ),
    "storm": "Great Red Spot, Great Dark Spot, Oval BA, Great White Spot, Little Red Spot",
    "region": "asteroid belt, main asteroid belt, Kuiper belt, Oort cloud, heliosphere, heliopause",
    "substance": (
        "hydrogen, helium, oxygen, nitrogen, carbon, carbon dioxide, carbon monoxide, methane, ethane, propane, "
        "ammonia, water, water ice, water vapour, water vapor, liquid water, ice, dry ice, sulfur, sulphur, "
        "sulfur dioxide, sulphur dioxide, sulfuric acid, sulphuric acid, hydrogen sulfide, iron, nickel, "
        "iron oxide, rust, silicon, silicate rock, silicates, basalt, granite, olivine, hematite, clay, "
        "salt, sodium, sodium chloride, potassium, magnesium, calcium, phosphorus, uranium, argon, neon, "
        "ozone, tholins, dust, rock, rocks, metal, stone, soot, iron sulfide"
    ),
}
# Kinds close enough that one may stand in for another as a wrong option.
_GROUPS = {
    "crater": "surface feature", "mountain": "surface feature", "plain": "surface feature",
    "canyon": "surface feature", "ring": "ring system", "gap": "ring system",
}

# Names that keep their kind under other spellings or with a designation ("Kepler-1649c").
_CATALOGUE = r"(?:kepler|k2|toi|wasp|hat-p|koi|corot|xo|tres|qatar|kelt|ngts)-\d+|(?:hd|hip|gj|gliese|lhs|ross|wolf|lhs) \d+"
_FORMS: list[tuple[str, re.Pattern[str]]] = [
    ("exoplanet", re.compile(rf"^(?:{_CATALOGUE})(?: ?[a-h]|[b-h])$")),
    ("star", re.compile(rf"^(?:{_CATALOGUE})(?: ?[a-c])?$")),
    ("crater", re.compile(r"^[\w'’ -]+ (?:crater|basin)$")),
    ("mountain", re.compile(r"^(?:[\w'’ -]+ (?:mons|montes|patera|paterae)|mount [\w'’ -]+)$")),
    ("plain", re.compile(r"^(?:(?:sea|ocean|lake|bay|marsh) of [\w'’ -]+|mare [\w ]+|oceanus [\w ]+|"
                         r"[\w'’ -]+ (?:planitia|planum|terra))$")),
    ("canyon", re.compile(r"^[\w'’ -]+ (?:chasma|chasmata|valles|vallis|canyon)$")),
    ("ring", re.compile(r"^[a-g] ring$|^[\w'’ -]+ ring$")),
    ("gap", re.compile(r"^[\w'’ -]+ (?:gap|division)$")),
    ("spacecraft", re.compile(r"^(?:apollo|luna|surveyor|ranger|viking|mariner|voyager|pioneer|artemis|chang'e|"
                              r"chandrayaan|lunokhod)[ -]?[\divx]+$")),
]


def _key(name: str) -> str:
    text = " ".join(str(name).replace("’", "'").split()).casefold().strip(" .!?\"'“”")
    return text.removeprefix("the ")


@cache
def vocabulary() -> dict[str, frozenset[str]]:
    kinds: dict[str, set[str]] = {}
    for kind, names in _NAMES.items():
        for name in names.split(","):
            kinds.setdefault(_key(name), set()).update({kind, _GROUPS.get(kind, kind)})
    return {name: frozenset(found) for name, found in kinds.items()}


@cache
def _stars() -> frozenset[str]:
    return frozenset(name for name, kinds in vocabulary().items() if "star" in kinds)


def name_kinds(option: str) -> frozenset[str]:
    """The kinds of named thing an option is, or an empty set when it is not one name."""
    key = _key(option)
    known = vocabulary().get(key)
    if known:
        return known
    # An exoplanet of a listed star: "TRAPPIST-1e", "51 Pegasi b", "Proxima Centauri b".
    planet = re.match(r"^(?P<star>.+?)(?: (?P<spaced>[b-h])|(?P<joined>[b-h]))$", key)
    if planet and planet.group("star").rstrip() in _stars() and (
        planet.group("spaced") or planet.group("star")[-1].isdigit()
    ):
        return frozenset({"exoplanet"})
    if _substances(key):
        return frozenset({"substance"})
    if not looks_like_a_name(option, generic_last_word=True):
        return frozenset()  # "a huge impact basin" is a description, not a crater's name
    found = {kind for kind, pattern in _FORMS if pattern.match(key)}
    return frozenset(found | {_GROUPS.get(kind, kind) for kind in found})


_STATES = ("liquid ", "molten ", "frozen ", "solid ", "gaseous ", "pure ", "salty ", "hot ", "cold ", "fine ")


def _substances(key: str) -> bool:
    """ "Liquid methane and ethane", "rock and iron": every part a substance."""
    parts = [p.strip() for p in re.split(r",|\band\b|\bor\b", key) if p.strip()]
    if not parts:
        return False
    for part in parts:
        for state in _STATES:
            part = part.removeprefix(state)
        if "substance" not in vocabulary().get(part, ()):
            return False
    return True


_CONNECTORS = {"of", "the", "de", "la", "le", "von", "van", "der", "al"}
# Words that open a description, not a name: "Inside Jupiter", "Around a pulsar".
_OPENERS = frozenset(
    "a an all around at behind between beyond both by each every from in inside into its it just near no not "
    "on one only onto out outside over their through to toward towards under with within".split()
)


def looks_like_a_name(option: str, *, generic_last_word: bool = False) -> bool:
    """A proper name: a few words, each capitalised or a designation ("Gusev crater" too, when
    `generic_last_word` lets the last word be a common noun)."""
    words = str(option).strip(" .!?").removeprefix("The ").removeprefix("the ").split()
    if not 1 <= len(words) <= 5 or "," in option or words[0].casefold() in _OPENERS:
        return False
    checked = words[:-1] if generic_last_word and len(words) > 1 else words
    return all(w in _CONNECTORS or w[:1].isupper() or w[:1].isdigit() for w in checked) and any(
        w[:1].isupper() for w in words
    )
