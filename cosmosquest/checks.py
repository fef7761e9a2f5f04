"""Start-up checks of the project's shared pieces (the pool's own are in keymanager/checks.py)."""

from __future__ import annotations

from django.core.checks import Error, Tags, register

from cosmosquest.cache import UNREACHABLE, shared_cache_problem


@register(Tags.caches, Tags.database, deploy=True)
def shared_cache_check(app_configs, databases=None, **kwargs) -> list[Error]:
    """The shared cache works: its table exists. A database check of the deploy set, so it runs
    where the units run it (`check --deploy --database default`), not in `migrate`, which comes
    before `createcachetable`. An unreachable database is reported by whatever needs it first."""
    if not databases:
        return []
    problem = shared_cache_problem()
    if problem is None or problem == UNREACHABLE:
        return []
    return [Error(f"Shared cache: {problem}.", hint="Every limit (live missions, sign-ups, failed logins) is "
                  "counted there; without it launches get the archive and sign-ups wait.", id="cosmosquest.E001")]
