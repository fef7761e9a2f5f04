"""Locust scenario for bench/game_load.py: guests playing quests end to end.

Each simulated player opens the star map, picks a quest, launches it (served from the buffer,
or from the archive when the buffer is empty and no key can serve), reads the mission,
answers and reads the result.
"""

from __future__ import annotations

import random
import re
import time

from locust import HttpUser, between, task

RUN_URL = re.compile(r"/run/(\d+)/")


class Player(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.get("/", name="star map")

    def _csrf(self) -> str:
        return self.client.cookies.get("csrftoken", "")

    @task
    def play(self) -> None:
        number = random.randint(1, 5)
        self.client.get(f"/quest/{number}/", name="quest page")
        with self.client.post(
            f"/quest/{number}/launch",
            data={"csrfmiddlewaretoken": self._csrf()},
            headers={"X-CSRFToken": self._csrf()},
            allow_redirects=False,
            name="launch",
            catch_response=True,
        ) as response:
            match = RUN_URL.search(response.headers.get("Location", ""))
            if response.status_code != 302 or not match:
                response.failure(f"launch answered {response.status_code}")
                return
        run = match.group(1)
        page = self.client.get(f"/run/{run}/", name="mission page")
        for _ in range(100):  # a live mission: ask its status as the page's script does
            if "Receiving your mission" not in page.text:
                break
            time.sleep(0.3)
            if self.client.get(f"/run/{run}/status", name="status (JSON)").json().get("state") != "writing":
                page = self.client.get(f"/run/{run}/", name="mission page")
        answers = {f"q{i}": str(random.randint(0, 3)) for i in (1, 2, 3)}
        self.client.post(
            f"/run/{run}/answer",
            data={**answers, "csrfmiddlewaretoken": self._csrf()},
            headers={"X-CSRFToken": self._csrf()},
            name="answer",
        )
        self.client.get("/leaderboard/", name="leaderboard")
