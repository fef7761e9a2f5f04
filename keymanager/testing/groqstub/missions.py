"""The stand-in's mission library: factually correct astronomy, one briefing paragraph that
teaches the fact each question asks about, and the keywords that tie a mission to a topic.

Each question: (prompt, correct option, three wrong options, explanation). Keywords are matched
as whole words, case-insensitively, against the prompt a completion receives.
"""

from __future__ import annotations

from typing import Any

MISSIONS: list[dict[str, Any]] = [
    # --- the Moon ---------------------------------------------------------------------------
    {
        "keywords": ["moon", "lunar", "earth-moon", "phases", "tidal locking", "far side", "libration", "tides",
                     "earthshine"],
        "title": "Tides, Phases and the Far Side",
        "briefing": (
            "The Moon circles Earth at an average distance of about 384,000 km. "
            "It rotates once for every orbit around Earth, a state called tidal locking, so the same face always "
            "points at us. The far side is not dark: it gets as much sunlight as the near side, but it stays "
            "hidden from Earth. Half of the Moon is always lit by the Sun, and as it orbits we see more or less of "
            "that sunlit half. The cycle of phases takes about 29.5 days from one full moon to the next."
        ),
        "questions": [
            ("Why do we always see the same side of the Moon?", "It rotates once for every orbit around Earth",
             ["It does not rotate at all", "Earth's shadow hides the other side", "The far side never gets sunlight"],
             "Tidal locking has matched the Moon's rotation period to its orbital period."),
            ("About how long is it from one full moon to the next?", "About 29.5 days",
             ["About 7 days", "About 24 hours", "About 365 days"],
             "The cycle of phases, the synodic month, lasts about 29.5 days."),
            ("What is the average distance between Earth and the Moon?", "About 384,000 km",
             ["About 38,400 km", "About 3.8 million km", "About 150 million km"],
             "The Moon orbits at about 384,000 km; 150 million km is the distance to the Sun."),
        ],
    },
    {
        "keywords": ["moon", "lunar", "apollo", "maria", "regolith", "craters", "poles", "ice", "landing sites"],
        "title": "Apollo Landing Sites and Lunar Ice",
        "briefing": (
            "On 20 July 1969 Apollo 11 landed in the Sea of Tranquility. "
            "Twelve astronauts walked on the Moon before the Apollo programme ended in 1972. "
            "The dark patches we see from Earth, the maria, are not seas at all but plains of ancient solidified "
            "lava that cooled into basalt. Near the poles, permanently shadowed craters never see sunlight and "
            "stay cold enough to hold water ice."
        ),
        "questions": [
            ("Where on the Moon did Apollo 11 land?", "The Sea of Tranquility",
             ["The Ocean of Storms", "Inside Tycho crater", "On the far side"],
             "Apollo 11's lunar module Eagle touched down in Mare Tranquillitatis on 20 July 1969."),
            ("What are the dark lunar maria made of?", "Plains of ancient solidified lava",
             ["Dried-up seas of water", "Forests seen from afar", "Shadows of tall mountains"],
             "The maria are basalt plains left by lava that flooded huge impact basins billions of years ago."),
            ("Where has water ice been found on the Moon?", "In permanently shadowed craters near the poles",
             ["In sunlit plains along the equator", "In lakes inside the maria", "On the peaks of the highest mountains"],
             "Crater floors near the poles never receive sunlight, so ice there does not evaporate."),
        ],
    },
    # --- Mars ---------------------------------------------------------------------------------
    {
        "keywords": ["mars", "martian", "olympus mons", "tharsis", "valles marineris", "volcanoes", "canyon",
                     "red planet", "dust"],
        "title": "Volcanoes and Canyons of Mars",
        "briefing": (
            "Mars holds Olympus Mons, the largest known volcano in the Solar System. "
            "It is about two and a half times as tall as Mount Everest and about as wide as the state of Arizona. "
            "Beside the Tharsis volcanoes runs Valles Marineris, a canyon system about 4,000 km long and up to "
            "7 km deep. The whole planet looks red because its dust and rocks are rich in iron oxide, the same "
            "compound as rust."
        ),
        "questions": [
            ("Which is the largest known volcano in the Solar System?", "Olympus Mons",
             ["Mauna Kea", "Mount Everest", "Maxwell Montes"],
             "Olympus Mons on Mars rises about 22 km above the surrounding plains."),
            ("What is Valles Marineris?", "A canyon system about 4,000 km long",
             ["A volcano near the north pole", "A dried ocean basin", "A crater made by a comet"],
             "Valles Marineris stretches about a fifth of the way around Mars and is up to 7 km deep."),
            ("What gives Mars its red colour?", "Iron oxide (rust) in its dust and rocks",
             ["Light reflected from Jupiter", "Red ice at its poles", "Oceans of molten lava"],
             "Iron minerals in the Martian soil have oxidised, giving the dust a rusty red colour."),
        ],
    },
    {
        "keywords": ["mars", "martian", "jezero", "perseverance", "gale", "curiosity", "rover", "water", "phobos",
                     "deimos", "lake"],
        "title": "Rovers and Ancient Water on Mars",
        "briefing": (
            "In February 2021 NASA's Perseverance rover landed in Jezero crater. "
            "The crater once held a lake fed by a river that left a delta of layered sediment, a good place to "
            "look for signs of ancient life. Its predecessor Curiosity has explored Gale crater since 2012. "
            "Above them both circle the two small moons of Mars, Phobos and Deimos, discovered in 1877."
        ),
        "questions": [
            ("In which crater did the Perseverance rover land?", "Jezero crater",
             ["Gale crater", "Gusev crater", "Tycho crater"],
             "Perseverance touched down in Jezero crater on 18 February 2021."),
            ("Why was Jezero crater chosen for Perseverance?", "It once held a lake with a river delta",
             ["It is the highest point on Mars", "It is the warmest place on Mars", "It contains the Viking landers"],
             "Lake sediments are among the best places to find preserved signs of past life."),
            ("What are the names of the two moons of Mars?", "Phobos and Deimos",
             ["Io and Europa", "Titan and Rhea", "Triton and Nereid"],
             "Asaph Hall discovered Phobos and Deimos in 1877."),
        ],
    },
    # --- Jupiter and the Galilean moons -------------------------------------------------------------
    {
        "keywords": ["jupiter", "jovian", "galilean", "galileo", "io", "europa", "tidal heating", "ocean",
                     "volcanoes", "1610"],
        "title": "Fire and Ice: Io and Europa",
        "briefing": (
            "In 1610 Galileo Galilei turned his telescope to Jupiter and discovered its four largest moons. "
            "The innermost, Io, is the most volcanically active world in the Solar System. "
            "Jupiter's gravity squeezes and flexes Io on every orbit, and this tidal heating melts rock inside. "
            "Next out, Europa hides a global ocean of salty liquid water beneath a crust of ice."
        ),
        "questions": [
            ("Who discovered Jupiter's four largest moons, and when?", "Galileo Galilei, in 1610",
             ["Isaac Newton, in 1687", "Johannes Kepler, in 1609", "Voyager 1, in 1979"],
             "Galileo saw Io, Europa, Ganymede and Callisto in January 1610."),
            ("What powers the volcanoes of Io?", "Tidal heating from Jupiter's gravity",
             ["Sunlight focused by Jupiter's clouds", "Impacts of comets", "Lightning from Jupiter's storms"],
             "Jupiter's changing pull on Io's slightly elliptical orbit flexes the moon and heats its interior."),
            ("What lies beneath Europa's icy crust?", "A global ocean of salty liquid water",
             ["A sea of molten iron", "Solid rock all the way down", "A layer of frozen carbon dioxide"],
             "Magnetic measurements by the Galileo spacecraft point to a salty ocean under the ice."),
        ],
    },
    {
        "keywords": ["jupiter", "jovian", "galilean", "ganymede", "callisto", "magnetic field", "laplace",
                     "resonance", "craters", "juno"],
        "title": "Giants Among Moons: Ganymede and Callisto",
        "briefing": (
            "Ganymede, about 5,268 km across, is the largest moon in the Solar System, bigger than the planet "
            "Mercury. It is also the only moon known to generate its own magnetic field. "
            "Callisto, the outermost Galilean moon, is one of the most heavily cratered worlds known. "
            "Io, Europa and Ganymede are locked in the Laplace resonance: for every orbit Ganymede makes, Europa "
            "makes two and Io makes four."
        ),
        "questions": [
            ("Which is the largest moon in the Solar System?", "Ganymede", ["Titan", "Callisto", "Earth's Moon"],
             "Ganymede is about 5,268 km across, slightly larger than Saturn's Titan."),
            ("What makes Ganymede unique among known moons?", "It generates its own magnetic field",
             ["It has rings of its own", "It has a thick oxygen atmosphere", "It orbits Jupiter backwards"],
             "The Galileo spacecraft found that Ganymede has an intrinsic magnetic field."),
            ("In the Laplace resonance, how many orbits does Io make for each orbit of Ganymede?", "Four",
             ["One", "Two", "Eight"],
             "Io, Europa and Ganymede orbit in a 4:2:1 ratio."),
        ],
    },
    # --- Saturn's rings -------------------------------------------------------------------------
    {
        "keywords": ["saturn", "rings", "cassini division", "resonances", "mimas", "shepherd", "roche",
                     "ring runner", "made of"],
        "title": "Inside the Rings of Saturn",
        "briefing": (
            "Saturn's rings are made mostly of pieces of water ice, from grains of dust to blocks as big as a house. "
            "They spread over a disc hundreds of thousands of kilometres wide but mostly only tens of metres thick. "
            "The widest gap, the Cassini Division, separates the A ring from the B ring. "
            "Particles there are cleared out by a resonance with the moon Mimas, which pulls on them at the same "
            "point of every second orbit."
        ),
        "questions": [
            ("What are Saturn's rings mainly made of?", "Pieces of water ice", ["Molten rock", "Glowing gas",
                                                                             "Iron dust"],
             "The rings are mostly water ice, from tiny grains to pieces metres across, with a little rock."),
            ("What is the Cassini Division?", "A gap between the A ring and the B ring",
             ["A moon inside the rings", "A storm on Saturn", "The outermost ring"],
             "Giovanni Cassini spotted the gap in 1675; it is about 4,700 km wide."),
            ("Which moon clears the Cassini Division through a resonance?", "Mimas",
             ["Titan", "Phoebe", "Earth's Moon"],
             "Particles in the division would orbit twice for each orbit of Mimas, so its pulls add up."),
        ],
    },
    {
        "keywords": ["saturn", "rings", "enceladus", "e ring", "titan", "cassini", "grand finale", "geysers",
                     "methane"],
        "title": "Enceladus, Titan and the Cassini Mission",
        "briefing": (
            "Saturn's small moon Enceladus sprays plumes of water ice from cracks near its south pole. "
            "Those ice plumes feed Saturn's faint E ring. Titan, its largest moon, has a thick nitrogen atmosphere "
            "and lakes of liquid methane and ethane. The Cassini spacecraft studied them for thirteen years and "
            "ended its mission in September 2017 when it plunged into Saturn's atmosphere."
        ),
        "questions": [
            ("What feeds Saturn's E ring?", "Ice plumes from the moon Enceladus",
             ["Dust from Jupiter", "The solar wind", "Volcanoes on Titan"],
             "Cassini flew through the plumes and traced the E ring's ice back to Enceladus."),
            ("What fills the lakes on Titan?", "Liquid methane and ethane",
             ["Liquid water", "Molten sulfur", "Liquid carbon dioxide"],
             "At about -180 °C, methane and ethane are liquid on Titan's surface."),
            ("How did the Cassini mission end in 2017?", "It plunged into Saturn's atmosphere",
             ["It landed on Titan", "It left the Solar System", "It crashed into Enceladus"],
             "Cassini was sent into Saturn so it could never contaminate Enceladus or Titan."),
        ],
    },
    # --- Exoplanets ---------------------------------------------------------------------------
    {
        "keywords": ["exoplanet", "exoplanets", "transit", "radial velocity", "wobble", "kepler", "51 pegasi",
                     "tess", "other stars"],
        "title": "Transits and Wobbles: Finding Exoplanets",
        "briefing": (
            "Most exoplanets are found without seeing them. With the transit method a telescope such as Kepler or "
            "TESS watches a star's light dip slightly each time a planet passes in front of it. With the radial "
            "velocity method astronomers measure the star's small wobble, toward and away from us, from the "
            "Doppler shift of its light. That wobble revealed 51 Pegasi b in 1995, the first planet found "
            "around a Sun-like star."
        ),
        "questions": [
            ("What does the transit method detect?", "A small dip in starlight as a planet passes in front",
             ["Radio signals from the planet", "The planet's shadow on Earth", "Light reflected off the planet's moons"],
             "A planet crossing its star blocks a tiny fraction of the star's light."),
            ("What does the radial velocity method measure?", "The star's wobble, from the Doppler shift of its light",
             ["The planet's temperature", "The star's change in size", "The planet's magnetic field"],
             "A planet's pull makes its star move slightly toward and away from us, shifting its spectrum."),
            ("Which was the first planet found around a Sun-like star, in 1995?", "51 Pegasi b",
             ["Proxima Centauri b", "TRAPPIST-1e", "Kepler-22b"],
             "Michel Mayor and Didier Queloz found it by radial velocity and shared the 2019 Nobel Prize."),
        ],
    },
    {
        "keywords": ["exoplanet", "exoplanets", "trappist-1", "proxima", "habitable zone", "jwst", "red dwarf",
                     "beyond the solar system"],
        "title": "Worlds of TRAPPIST-1 and Proxima Centauri",
        "briefing": (
            "About 40 light-years away, the small, cool red dwarf TRAPPIST-1 has seven Earth-sized planets. "
            "Several of them lie in its habitable zone: the distances where a planet's surface could hold liquid "
            "water. Much closer, Proxima Centauri b orbits Proxima Centauri, the nearest star to the Sun, about "
            "4.2 light-years from us. The James Webb Space Telescope, launched in December 2021, studies the "
            "atmospheres of such planets."
        ),
        "questions": [
            ("How many Earth-sized planets orbit TRAPPIST-1?", "Seven", ["Two", "Four", "Twelve"],
             "Transit observations revealed seven rocky, Earth-sized planets around TRAPPIST-1."),
            ("What is a star's habitable zone?", "The distances where a planet's surface could hold liquid water",
             ["The region where a star's light is brightest", "The area where comets form",
              "The orbit where a planet has no seasons"],
             "Closer in water boils away; farther out it freezes."),
            ("Which star does Proxima Centauri b orbit?", "The nearest star to the Sun",
             ["The brightest star in the night sky", "A star in another galaxy", "The Sun itself"],
             "Proxima Centauri, about 4.2 light-years away, is the closest known star to the Sun."),
        ],
    },
    # --- general astronomy, for prompts that name none of the topics above ----------------------------
    {
        "keywords": ["mercury", "venus", "inner planets", "rocky planets"],
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
        "keywords": ["giant planets", "neptune", "uranus"],
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
        "keywords": ["sun", "star", "fusion", "sunlight"],
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
        "keywords": ["tides", "ocean tides"],
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
        "keywords": ["galaxy", "milky way", "light-year", "stars"],
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
