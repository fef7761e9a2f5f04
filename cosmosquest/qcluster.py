"""Running django-q2's cluster so that a stop signal stops it, whoever receives it.

Why (django-q2 1.11, django_q/cluster.py): the main process stops the cluster from inside its
SIGTERM/SIGINT handler with `stop_event.set()` and then joins the Sentinel process that waits on
that multiprocessing Event. The Sentinel resets SIGTERM to its default action, so a SIGTERM sent
to the whole process group (what `kill -- -PGID`, a terminal's job control after Ctrl-C under
`make run`, and systemd's default KillMode do) kills it while it sleeps on the Event. `set()` then
waits in `Condition.notify()` for that dead sleeper to acknowledge: the main process logs
"stopping." and hangs for ever. A second signal arriving while the first handler is inside
`set()` deadlocks on the Event's lock in the same way.

What this does instead:
- the Sentinel starts its own process group, so signals sent to qcluster's group reach only the
  main process, which stops the cluster as django-q2 intends (workers finish their task first);
- the signal handlers only record the request; the main thread stops the cluster, and it sets
  the Event from a helper thread while it waits for the Sentinel to exit, so a Sentinel killed
  by some other route (systemd's control-group kill) cannot hang it;
- on Linux the Sentinel and every process under it die with their parent (PR_SET_PDEATHSIG), so
  a main process killed outright leaves no cluster behind in its own process group.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
import time

logger = logging.getLogger("cosmosquest.qcluster")

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 0.2


def _die_with_parent(expected_parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the parent's stop is the only way down
        return
    if os.getppid() != expected_parent:  # the parent died before the line above
        os._exit(1)


def _after_fork_in_child(main_pid: int) -> None:
    parent = os.getppid()
    if parent == main_pid:  # the Sentinel: away from the main process's group
        os.setpgid(0, 0)
    _die_with_parent(parent)


class _StopRequest:
    """Set by SIGTERM/SIGINT; nothing else happens in signal context."""

    def __init__(self) -> None:
        self.signal: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.signal is None:
            self.signal = signum


def run_cluster(*, run_once: bool = False) -> int:
    """Start the cluster, run until SIGTERM/SIGINT (or the Sentinel's death), stop it. Returns
    the exit status: 0 after a requested stop, 1 when the Sentinel died on its own."""
    from django_q.cluster import Cluster

    main_pid = os.getpid()
    os.register_at_fork(after_in_child=lambda: _after_fork_in_child(main_pid))
    cluster = Cluster()  # installs django-q2's own handlers: replaced right below
    request = _StopRequest()
    signal.signal(signal.SIGTERM, request)
    signal.signal(signal.SIGINT, request)
    cluster.start()
    while not run_once and request.signal is None and cluster.sentinel.is_alive():
        time.sleep(POLL_SECONDS)
    if not cluster.sentinel.is_alive() and request.signal is None and not run_once:
        logger.error("The django-q2 Sentinel exited on its own (exit code %s).", cluster.sentinel.exitcode)
        return 1
    reason = f" on {signal.Signals(request.signal).name}" if request.signal else ""
    logger.info("Q Cluster %s stopping%s.", cluster.name, reason)
    # set() waits for every process sleeping on the Event to wake up: from a helper thread, so
    # that a Sentinel that died meanwhile (signalled too) cannot keep this process from exiting.
    threading.Thread(target=cluster.stop_event.set, name="qcluster-stop", daemon=True).start()
    cluster.sentinel.join()
    logger.info("Q Cluster %s has stopped.", cluster.name)
    return 0
