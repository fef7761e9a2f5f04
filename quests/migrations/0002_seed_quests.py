"""Seed the five quests. Admins may edit model, temperature, max tokens and prompts later;
re-running this migration never overwrites their edits (get_or_create by number)."""

from django.db import migrations

SCIENCE_RULES = (
    "You are the mission computer of the starship Meridian in CosmosQuest, a space-exploration game that teaches "
    "real astronomy to curious players aged 12 and up. Write in a warm, adventurous voice. Use only well-established "
    "science and real missions with correct names and dates; never invent facts, spacecraft or numbers. "
)

QUESTS = [
    {
        "number": 1,
        "slug": "lunar-navigation",
        "title": "Lunar Navigation",
        "destination": "The Moon",
        "theme": "Fly to the Moon, land on its far side and chart its phases, tides and ice.",
        "system_prompt": SCIENCE_RULES
        + "This quest is about the Moon: its orbit and distance, phases and eclipses, tidal locking and libration, "
        "craters and maria, polar ice, tides, its origin, and the missions that explored it.",
        "topics": "Earth-Moon distance and travel time\nphases of the Moon\ntidal locking and the far side\n"
        "Apollo landing sites\nwater ice at the lunar poles\nsolar and lunar eclipses\ncraters, maria and regolith\n"
        "the origin of the Moon\nocean tides\nlibration and earthshine",
        "temperature": 0.8,
        "max_tokens": 1400,
    },
    {
        "number": 2,
        "slug": "martian-geology",
        "title": "Martian Geology",
        "destination": "Mars",
        "theme": "Survey the volcanoes, canyons and ancient lakebeds of the red planet.",
        "system_prompt": SCIENCE_RULES
        + "This quest is about the geology of Mars: Olympus Mons and Tharsis, Valles Marineris, impact basins, "
        "evidence of ancient water, polar caps, dust storms, its moons, its interior, and the rovers and landers.",
        "topics": "Olympus Mons and the Tharsis volcanoes\nValles Marineris\nJezero crater and Perseverance\n"
        "Gale crater and Curiosity\nhematite and evidence of past water\npolar caps and seasons\n"
        "Phobos and Deimos\nmarsquakes and the interior\ndust storms\nthe thin atmosphere",
        "temperature": 0.8,
        "max_tokens": 1400,
    },
    {
        "number": 3,
        "slug": "jovian-moons",
        "title": "The Galilean Moons",
        "destination": "Jupiter's moons",
        "theme": "Tour Io's volcanoes, Europa's hidden ocean, giant Ganymede and battered Callisto.",
        "system_prompt": SCIENCE_RULES
        + "This quest is about Jupiter and its four Galilean moons, Io, Europa, Ganymede and Callisto: their "
        "discovery, tidal heating, subsurface oceans, the Laplace resonance, radiation, and missions such as "
        "Galileo, Juno, JUICE and Europa Clipper.",
        "topics": "Galileo's discovery in 1610\nIo's volcanoes and tidal heating\nEuropa's subsurface ocean\n"
        "Ganymede's magnetic field\nCallisto's craters\nthe Laplace resonance\nJupiter's radiation belts\n"
        "the Great Red Spot\nJupiter's rings\nmissions to the Jovian moons",
        "temperature": 0.8,
        "max_tokens": 1400,
    },
    {
        "number": 4,
        "slug": "saturn-rings",
        "title": "Ring Runner",
        "destination": "Saturn's rings",
        "theme": "Thread the Cassini Division, meet the shepherd moons and chase Enceladus's geysers.",
        "system_prompt": SCIENCE_RULES
        + "This quest is about Saturn's rings and the moons that shape them: ring composition and thickness, gaps "
        "and resonances, shepherd moons, the Roche limit, Enceladus and the E ring, the Cassini mission, Titan.",
        "topics": "what the rings are made of\nthe Cassini Division and resonances\nshepherd moons\n"
        "the Roche limit\nthe Cassini mission and its Grand Finale\nEnceladus and the E ring\n"
        "the age of the rings\nring-plane crossings and spokes\nthe Phoebe ring and Iapetus\nTitan",
        "temperature": 0.8,
        "max_tokens": 1400,
    },
    {
        "number": 5,
        "slug": "exoplanet-hunt",
        "title": "Exoplanet Hunters",
        "destination": "Beyond the Solar System",
        "theme": "Hunt planets around other stars with transits, wobbles, lenses and starlight.",
        "system_prompt": SCIENCE_RULES
        + "This quest is about finding and studying exoplanets: the transit, radial velocity, direct imaging and "
        "microlensing methods, habitable zones, famous systems such as 51 Pegasi, TRAPPIST-1 and Proxima "
        "Centauri, and telescopes such as Kepler, TESS and JWST.",
        "topics": "the transit method\nthe radial velocity method\nthe Kepler mission\nTRAPPIST-1\n"
        "habitable zones\nhot Jupiters\ndirect imaging\nreading exoplanet atmospheres\n"
        "gravitational microlensing\nTESS and the first exoplanets",
        "temperature": 0.8,
        "max_tokens": 1400,
    },
]


def seed(apps, schema_editor):
    Quest = apps.get_model("quests", "Quest")
    for data in QUESTS:
        Quest.objects.get_or_create(number=data["number"], defaults=data)


def unseed(apps, schema_editor):
    Quest = apps.get_model("quests", "Quest")
    Quest.objects.filter(number__in=[q["number"] for q in QUESTS], runs__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("quests", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
