"""The key pool's state. It lives only in the database, so every worker sees it at once."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone

from keymanager import crypto
from keymanager.context import current_trace_id


class Provider(models.TextChoices):
    GROQ = "groq", "Groq"
    OPENAI = "openai", "OpenAI"


SECRET_PREFIXES = {Provider.GROQ: ("gsk_",), Provider.OPENAI: ("sk-",)}


class OrganizationSource(models.TextChoices):
    ASSUMED = "assumed", "Assumed its own (not yet known)"
    OPERATOR = "operator", "Stated by an operator"
    PROVIDER = "provider", "Named by the provider"


class DisabledCode(models.TextChoices):
    ADMIN = "admin", "Disabled by an admin or operator"
    AUTH = "auth", "Refused by the provider (401/403)"
    UNDECRYPTABLE = "undecryptable", "Cannot be decrypted with KEY_ENCRYPTION_KEYS"


class Key(models.Model):
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.GROQ)
    name = models.CharField(max_length=100)
    secret_encrypted = models.TextField(editable=False)
    fingerprint = models.CharField(max_length=64, unique=True, editable=False)
    masked = models.CharField(max_length=32, editable=False)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    disabled_code = models.CharField(max_length=16, choices=DisabledCode.choices, blank=True, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True)
    order = models.PositiveIntegerField(default=0, help_text="Position for quest-based rotation.")
    organization = models.CharField(
        max_length=100,
        blank=True,
        help_text="Keys of one organization share its rate limits. Left blank, the key is its own "
        "until the provider names its organization (a 429 does).",
    )
    organization_source = models.CharField(
        max_length=16, choices=OrganizationSource.choices, default=OrganizationSource.ASSUMED, editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    # Error accounting: consecutive failures trigger a cooldown; cooldown_streak makes
    # repeated cooldowns grow. Both reset on success.
    consecutive_errors = models.PositiveIntegerField(default=0)
    cooldown_streak = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "order", "id"]
        indexes = [models.Index(fields=["provider", "enabled", "order"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.masked})"

    def save(self, *args, **kwargs) -> None:
        # A key given no organization is its own: it gets a budget of its own.
        if not self.organization.strip():
            self.organization = f"key-{self.fingerprint[:12]}"
        super().save(*args, **kwargs)

    def set_secret(self, plaintext: str) -> None:
        self.secret_encrypted = crypto.encrypt(plaintext)
        self.fingerprint = crypto.fingerprint(plaintext)
        self.masked = crypto.mask(plaintext)

    @property
    def secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)


class CooldownReason(models.TextChoices):
    RATE_LIMIT = "rate_limit", "Rate limited (429)"
    ERRORS = "errors", "Repeated errors"
    AUTH = "auth", "Authentication failed"
    SPEND_CAP = "spend_cap", "Spend cap reached"
    MODEL_UNAVAILABLE = "model_unavailable", "Model not available to this key"
    MANUAL = "manual", "Set by an admin"


class CooldownQuerySet(models.QuerySet):
    def active(self, now=None):
        return self.filter(ends_at__gt=now or timezone.now())

    def holding(self, model: str, now=None) -> CooldownQuerySet:
        """Active cooldowns that keep a key or organization from serving `model`: those for
        every model and those for that one. The one rule every caller asks (selection,
        status, admin, alerts, probes); callers narrow it to a key or an organization."""
        return self.active(now).filter(model__in=("", model))

    def of_key(self, key_id):
        return self.filter(key_id=key_id)

    def of_organization(self, provider, organization):
        return self.filter(key__isnull=True, provider=provider, organization=organization)


class Cooldown(models.Model):
    """A key, or a whole organization, kept out of selection until `ends_at`.

    Rows are history: a new cooldown adds a row, and selection looks at the latest end of
    the active ones, so a later, shorter cooldown never shortens an earlier one.
    """

    key = models.ForeignKey(Key, null=True, blank=True, on_delete=models.CASCADE, related_name="cooldowns")
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.GROQ)
    organization = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True, help_text="Blank: all models.")
    reason = models.CharField(max_length=32, choices=CooldownReason.choices)
    started_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField()
    detail = models.TextField(blank=True)

    objects = CooldownQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["ends_at"]),
            models.Index(fields=["organization", "ends_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(key__isnull=False) | ~Q(organization=""), name="cooldown_has_target"
            )
        ]

    def __str__(self) -> str:
        target = f"key {self.key_id}" if self.key_id else f"organization {self.organization}"
        return f"{target} / {self.model or 'all models'} until {self.ends_at:%Y-%m-%d %H:%M:%S}"


class Outcome(models.TextChoices):
    PENDING = "pending", "In flight"
    SUCCESS = "success", "Success"
    RATE_LIMITED = "rate_limited", "Rate limited (429)"
    ERROR = "error", "Server error"
    TIMEOUT = "timeout", "Timeout"
    CONNECTION = "connection", "Connection error"
    AUTH_FAILED = "auth_failed", "Authentication failed"
    BAD_REQUEST = "bad_request", "Bad request"
    DECOMMISSIONED = "decommissioned", "Model decommissioned"
    NOT_FOUND = "not_found", "Model not found"
    TOO_LARGE = "too_large", "Request too large"
    SPEND_CAP = "spend_cap", "Spend cap reached"
    CAPACITY = "capacity", "Capacity exceeded (498)"
    TIER_UNAVAILABLE = "tier_unavailable", "Service tier not available"


class UsageLog(models.Model):
    """One row per attempt, written when the attempt ends: the record for reports and the
    dashboard. Selection never reads it (budgets are kept on the Budget rows), so its size
    costs a call nothing. `created_at` is when the attempt was admitted (sent)."""

    request_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    # The web request (or task) that made the call (keymanager/context.py): one id from the
    # player's request through the django-q2 task into these rows and the log lines.
    trace_id = models.CharField(max_length=64, blank=True, default=current_trace_id, db_default="", db_index=True)
    key = models.ForeignKey(Key, null=True, on_delete=models.SET_NULL, related_name="usage")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    organization = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    purpose = models.CharField(max_length=50, blank=True)
    quest = models.PositiveSmallIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.PENDING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    # Tokens this attempt counted against the organization's TPM/TPD: the real total, the
    # reservation when the provider reported none, 0 when the provider refused it uncounted.
    budget_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["organization", "model", "created_at"]),
            models.Index(fields=["created_at"]),
            models.Index(fields=["key", "created_at"]),
            models.Index(fields=["outcome", "created_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.model} {self.outcome}"


class Limit(models.Model):
    """An admin's ceiling on rate limits per (organization, model): the pool never goes past
    it, whatever it learns from the provider. A blank organization applies to every
    organization without a row of its own; a blank value sets no ceiling.

    These are not the pool's idea of the limits: that is learned from the provider and shown
    per budget (services/ceilings.py ships first guesses from Groq's published table).
    """

    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.GROQ)
    organization = models.CharField(max_length=100, blank=True, help_text="Blank: default for every organization.")
    model = models.CharField(max_length=100)
    rpm = models.PositiveIntegerField("requests per minute", null=True, blank=True)
    rpd = models.PositiveIntegerField("requests per day", null=True, blank=True)
    tpm = models.PositiveIntegerField("tokens per minute", null=True, blank=True)
    tpd = models.PositiveIntegerField("tokens per day", null=True, blank=True)

    class Meta:
        ordering = ["provider", "organization", "model"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "organization", "model"], name="limit_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organization or 'default'} / {self.model}"


class Budget(models.Model):
    """One row per (provider, organization, model): what that budget has admitted, as a
    bounded summary (`state`, see keymanager/ledger.py), and what the provider told us.

    Acquire reads the row, decides and writes it back with a compare-and-swap on `version`.
    Finished calls do not read it: they append short events to `inbox` (settle the tokens,
    the provider's headers), which the next acquire folds into `state`. A call therefore
    costs the same whatever the usage log holds.
    """

    provider = models.CharField(max_length=16, choices=Provider.choices)
    organization = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    version = models.PositiveBigIntegerField(default=0)
    state = models.TextField(blank=True, default="")
    inbox = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "organization", "model"], name="budget_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organization} / {self.model}"


class OrganizationChange(models.Model):
    """A key found to belong to another organization than the pool assumed: the provider
    named it (a 429 body), or an operator stated it. Its budget was merged into that one."""

    key = models.ForeignKey(Key, null=True, on_delete=models.SET_NULL, related_name="organization_changes")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    from_organization = models.CharField(max_length=100)
    to_organization = models.CharField(max_length=100)
    source = models.CharField(max_length=16, choices=OrganizationSource.choices)
    detail = models.CharField(max_length=255, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"key {self.key_id}: {self.from_organization} -> {self.to_organization}"


# --- Operator surface: usage rollups for the dashboard and reports, alert incidents -------

# Upper bounds (ms) of the latency histogram kept per rollup row; the last bucket is open.
# About 1.5x apart, so a percentile read from the histogram is within a bucket's width.
LATENCY_BOUNDS_MS = (50, 100, 150, 200, 300, 400, 600, 800, 1200, 1600, 2500, 4000, 6000, 10000, 20000, None)
LATENCY_FIELDS = tuple(f"lat_{i:02d}" for i in range(len(LATENCY_BOUNDS_MS)))


class UsageRollup(models.Model):
    """Usage per hour, key, model and quest, summed from UsageLog by a task.

    The dashboard and reports read these for closed hours and the raw log only for the
    last hour or so, which keeps them fast with millions of log rows; the raw log can be
    pruned while the rollups keep the history.
    """

    hour = models.DateTimeField()
    key = models.ForeignKey(Key, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    organization = models.CharField(max_length=100)
    model = models.CharField(max_length=100)
    quest = models.PositiveSmallIntegerField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    calls = models.PositiveIntegerField(default=0, help_text="Logical calls started (first attempts).")
    switches = models.PositiveIntegerField(default=0, help_text="Logical calls that needed a second attempt.")
    successes = models.PositiveIntegerField(default=0)
    rate_limited = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="Failed attempts other than 429s.")
    pending = models.PositiveIntegerField(default=0)
    prompt_tokens = models.BigIntegerField(default=0)
    completion_tokens = models.BigIntegerField(default=0)
    total_tokens = models.BigIntegerField(default=0)
    # What the organization's budget counted (outcomes the provider does not count excluded:
    # keymanager/outcome_rules.py), for limit bars.
    budget_requests = models.PositiveIntegerField(default=0)
    budget_tokens = models.BigIntegerField(default=0)
    latency_count = models.PositiveIntegerField(default=0)
    latency_sum = models.BigIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["hour"]), models.Index(fields=["key", "hour"])]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.organization} {self.model}"


# One histogram column per latency bucket; added in a loop so columns and bounds stay in step.
for _name in LATENCY_FIELDS:
    UsageRollup.add_to_class(_name, models.PositiveIntegerField(default=0))


class RollupCursor(models.Model):
    """How far the rollups reach: every UsageLog row created before `upto` is summed."""

    name = models.CharField(max_length=32, unique=True)
    upto = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.name} up to {self.upto:%Y-%m-%d %H:%M}"


class IncidentKind(models.TextChoices):
    PROVIDER_DOWN = "provider_down", "Every key of a provider unavailable"
    KEY_AUTH = "key_auth", "Key refused by the provider"
    KEY_UNDECRYPTABLE = "key_undecryptable", "Key cannot be decrypted"
    MODEL_DECOMMISSIONED = "model_decommissioned", "Model decommissioned"
    SPEND_CAP = "spend_cap", "Organization reached its spend cap"


class Incident(models.Model):
    """A condition admins were told about. At most one open incident per (kind, subject),
    so each is mailed once when it opens and once when it resolves."""

    kind = models.CharField(max_length=32, choices=IncidentKind.choices)
    subject = models.CharField(max_length=120, help_text="Provider, key id, model or organization.")
    summary = models.CharField(max_length=255)
    detail = models.TextField(blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.CharField(max_length=255, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)
    recovery_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject"], condition=Q(resolved_at__isnull=True), name="incident_one_open"
            )
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None


class PoolEvent(models.TextChoices):
    EXHAUSTED = "exhausted", "PoolExhausted raised"
    REFUSED = "refused", "Refused by the provider (429)"


class PoolEventCount(models.Model):
    """How often something happened that leaves no row of its own: a `PoolExhausted` (the call
    never reached a key), a 429 by the limit it named (the usage row says 429, not which limit).
    Counted in the database so that every host's /metrics reports the same totals; never pruned,
    so the totals only grow (Prometheus counters). One row per label set, incremented in place."""

    event = models.CharField(max_length=16, choices=PoolEvent.choices)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    organization = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=100, blank=True)
    detail = models.CharField(max_length=16, blank=True, help_text="For refusals: the limit named (rpm, rpd, tpm, tpd).")
    count = models.PositiveBigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "provider", "organization", "model", "detail"], name="pool_event_count_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.provider}/{self.organization}/{self.model} {self.detail}: {self.count}"
