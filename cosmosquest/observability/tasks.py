"""The request id travels into django-q2 tasks: the enqueuing request's id goes into the task
package (an id, never a secret), and the worker sets it while the task runs. A task enqueued
outside any request (the scheduler) gets an id of its own, so its log lines still group."""

from __future__ import annotations

from django_q.signals import post_execute_in_worker, pre_enqueue, pre_execute

from keymanager.context import current_trace_id, new_trace_id, reset_trace_id, set_trace_id, valid_trace_id

TASK_KEY = "trace_id"
_TOKEN_KEY = "_trace_token"


def _on_enqueue(sender, task: dict, **kwargs) -> None:
    trace_id = current_trace_id()
    if trace_id:
        task[TASK_KEY] = trace_id


def _on_execute(sender, task: dict, **kwargs) -> None:
    task[_TOKEN_KEY] = set_trace_id(valid_trace_id(task.get(TASK_KEY)) or new_trace_id())


def _after_execute(sender, task: dict, **kwargs) -> None:
    token = task.pop(_TOKEN_KEY, None)
    if token is not None:
        try:
            reset_trace_id(token)
        except ValueError:  # set in another context (should not happen): leave it
            pass


def connect() -> None:
    pre_enqueue.connect(_on_enqueue, dispatch_uid="cosmosquest-trace-enqueue")
    pre_execute.connect(_on_execute, dispatch_uid="cosmosquest-trace-execute")
    post_execute_in_worker.connect(_after_execute, dispatch_uid="cosmosquest-trace-done")
