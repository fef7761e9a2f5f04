"""One request id from the web request through the django-q2 task into the pool's log lines
and usage rows; LOG_FORMAT=json writes one JSON object per line."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse
from django_q.models import OrmQ
from django_q.signals import post_execute_in_worker, pre_execute
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from cosmosquest.observability.logs import JsonFormatter, TraceIdFilter
from keymanager.context import current_trace_id, reset_trace_id, set_trace_id
from keymanager.models import UsageLog
from quests.models import QuestRun, RunSource
from tests.quests_fixtures import game_settings, seeded  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
REQUEST_ID = "edge-4f2c9a1b7d3e4c55"


@pytest.fixture
def json_log():
    """The JSON formatter and request-id filter of LOG_FORMAT=json on the root logger."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(TraceIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("game_settings", "seeded")
def test_a_launchs_request_id_reaches_the_task_the_usage_rows_and_the_log_lines(client, pool_factory, json_log):
    pool_factory(orgs=1)
    before = len(json_log())
    response = client.post(reverse("quests:quest_launch", args=[1]), HTTP_X_REQUEST_ID=REQUEST_ID)
    assert response.status_code == 302 and response["X-Request-ID"] == REQUEST_ID
    # The launch committed inside the request; the (sync) cluster wrote the live mission.
    run = QuestRun.objects.get()
    assert run.source == RunSource.LIVE and run.request_id is not None
    rows = list(UsageLog.objects.filter(request_id=run.request_id))
    assert rows and {row.trace_id for row in rows} == {REQUEST_ID}
    pool_lines = [line for line in json_log()[before:] if line["logger"] in ("keymanager", "httpx")]
    assert pool_lines and {line["trace_id"] for line in pool_lines} == {REQUEST_ID}
    assert current_trace_id() == ""  # nothing leaks past the request


@pytest.mark.django_db
def test_the_task_package_carries_the_id_and_the_worker_sets_it():
    token = set_trace_id(REQUEST_ID)
    try:
        async_task("math.floor", 1.5, sync=False, task_name="trace-test")
    finally:
        reset_trace_id(token)
    task = SignedPackage.loads(OrmQ.objects.get().payload)
    assert task["trace_id"] == REQUEST_ID and task["args"] == (1.5,)

    def in_a_worker() -> tuple[str, str]:
        pre_execute.send(sender="django_q", func=None, task=task)
        during = current_trace_id()
        post_execute_in_worker.send(sender="django_q", func=None, task=task)
        return during, current_trace_id()

    # A worker process starts with no id of its own.
    assert contextvars.Context().run(in_a_worker) == (REQUEST_ID, "")
    assert "_trace_token" not in task  # the package goes back to the monitor picklable


def test_a_task_enqueued_outside_a_request_gets_an_id_of_its_own():
    task = {"id": "x", "args": ()}

    def in_a_worker() -> str:
        pre_execute.send(sender="django_q", func=None, task=task)
        try:
            return current_trace_id()
        finally:
            post_execute_in_worker.send(sender="django_q", func=None, task=task)

    first, second = contextvars.Context().run(in_a_worker), contextvars.Context().run(in_a_worker)
    assert len(first) == 32 and first != second


@pytest.mark.django_db
@pytest.mark.parametrize("sent", ["", "short", "has spaces in it", "x" * 65, "<script>alert(1)</script>"])
def test_a_malformed_incoming_id_is_replaced(client, sent):
    response = client.get("/api/status", HTTP_X_REQUEST_ID=sent)
    assert response["X-Request-ID"] != sent and len(response["X-Request-ID"]) == 32


def test_log_format_json_writes_one_object_per_line_with_the_request_id(tmp_path):
    code = (
        "import logging; from keymanager.context import set_trace_id; set_trace_id('abc-123-def-456'); "
        "logging.getLogger('keymanager').warning('pool says %s', 'hello', extra={'key_id': 7})"
    )
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "shell", "-c", code], env=env,
                            capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "pool says hello" and line["trace_id"] == "abc-123-def-456"
    assert line["level"] == "WARNING" and line["logger"] == "keymanager" and line["key_id"] == 7


def test_a_bad_log_format_is_a_start_up_error(tmp_path):
    env = {**os.environ, "LOG_FORMAT": "xml", "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), "check"], env=env, capture_output=True,
                            text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0 and "LOG_FORMAT='xml' is not plain or json" in result.stderr
