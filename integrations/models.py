"""The database rows: each Segment call, each delivery attempt, and identities."""

from __future__ import annotations

from datetime import datetime

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .core import SegAction, SegEvent, Verdict


class Status(models.TextChoices):
    PENDING = "pending", _("pending")
    SENDING = "sending", _("sending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")
    HELD = "held", _("held for identity")
    EXPIRED = "expired", _("expired")
    IGNORED = "ignored", _("ignored")
    SUPPRESSED = "suppressed", _("suppressed")
    # The shop (its integrations object) or the visitor (consent) kept it from Seg.
    WITHHELD = "withheld", _("withheld")
    # An identify that would tell Seg what it accepted last (SEG_IDENTIFY_REFRESH).
    UNCHANGED = "unchanged", _("unchanged")


# Statuses in which the row still owes Seg a delivery.
OUTSTANDING = (Status.PENDING, Status.SENDING)
# The states a row rests in for good, in the order retention's query spells them.
ENDED = ("delivered", "ignored", "failed", "expired", "suppressed", "withheld", "unchanged")


class Source(models.TextChoices):
    """Who sent a call, or vouches for what an identity row says (Segment: a write key
    is a source, and messageIds are deduplicated within it)."""

    SERVER = "server", _("the shop's server")  # SEG_WRITE_KEYS, integrations.api, receivers
    BROWSER = "browser", _("a page")  # SEG_BROWSER_WRITE_KEYS: public, speaks for its visitor
    # manage.py seg_backfill: the shop's history, speaking as its server, on a queue of its own.
    BACKFILL = "backfill", _("a backfill of the shop's history")


class CallType(models.TextChoices):
    IDENTIFY = "identify", "identify"
    TRACK = "track", "track"
    PAGE = "page", "page"
    ALIAS = "alias", "alias"
    SCREEN = "screen", "screen"
    GROUP = "group", "group"


class EventQuerySet(models.QuerySet["Event"]):
    def due(self, now: datetime) -> EventQuerySet:
        """Rows a worker may claim now: pending and due, or sending with a lapsed lease."""
        return self.filter(status__in=OUTSTANDING, next_attempt_at__lte=now)

    def orphaned(self, now: datetime, requeue_before: datetime) -> EventQuerySet:
        """Due rows with no live wake-up in the broker (none queued, or queued long ago)."""
        return self.due(now).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=requeue_before))

    def held_for(self, user_id: str | None, anonymous_ids: list[str]) -> EventQuerySet:
        match = Q(anonymous_id__in=anonymous_ids) if anonymous_ids else Q(pk__in=[])
        if user_id:
            match |= Q(user_id=user_id)
        return self.filter(match, status=Status.HELD)


class Event(models.Model):
    """One Segment call as the shop sent it, and what became of it at Seg."""

    message_id = models.CharField(
        _("message id"),
        max_length=255,
        help_text=_(
            "Segment's messageId; a repeat from the same source is acknowledged and not "
            "stored again."
        ),
    )
    source = models.CharField(
        _("source"),
        max_length=16,
        choices=Source.choices,
        default=Source.SERVER,
        help_text=_(
            "Who sent it: the shop's server (a server key, the Python API) or a page (a "
            "browser key). messageIds are unique within a source."
        ),
    )
    call_type = models.CharField(
        _("call"), max_length=16, choices=CallType.choices, help_text=_("The Segment call.")
    )
    name = models.CharField(
        _("name"),
        max_length=255,
        blank=True,
        help_text=_("The track event's name, or the page's name."),
    )
    user_id = models.CharField(
        _("user id"),
        max_length=255,
        blank=True,
        help_text=_(
            "Segment's userId; from a page, only when the shop vouched for it (a signed "
            "identify, or the server tied the visitor to it), else blank and kept in the message."
        ),
    )
    anonymous_id = models.CharField(
        _("anonymous id"),
        max_length=255,
        blank=True,
        help_text=_("Segment's anonymousId: the visitor's browser, before they are known."),
    )
    email = models.CharField(
        _("email"),
        max_length=254,
        blank=True,
        help_text=_("The customer's email as resolved at ingest; blank while anonymous."),
    )
    website = models.CharField(
        _("Seg website"),
        max_length=64,
        blank=True,
        default="",
        help_text=_(
            "The Seg Website Id it goes to, set at ingest from the write key, the site, or "
            "the caller (SEG_WEBSITES, else SEG_WEBSITE_ID); blank: SEG_WEBSITE_ID."
        ),
    )
    order_id = models.CharField(
        _("order id"), max_length=255, blank=True, help_text=_("The order an OrderPlaced names.")
    )
    action = models.CharField(
        _("Seg action"),
        max_length=32,
        blank=True,
        choices=[(a.value, a.value) for a in SegAction],
        help_text=_("The tracker endpoint; blank when Seg gets nothing."),
    )
    seg_event = models.CharField(
        _("Seg event"),
        max_length=32,
        blank=True,
        choices=[(e.value, e.value) for e in SegEvent],
        help_text=_("What Seg calls the event (OrderPlaced…); blank for identify and alias."),
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text=_("Where the event is in its life; integrations.lifecycle lists the moves."),
    )
    status_reason = models.CharField(
        _("status reason"),
        max_length=500,
        blank=True,
        help_text=_("Why the event is ignored, held, expired, suppressed or failed."),
    )
    rule = models.ForeignKey(
        "SuppressionRule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="events",
        verbose_name=_("suppressed by rule"),
        help_text=_("The suppression rule that caught the event, if one did."),
    )
    ingest_status = models.CharField(
        _("status at ingest"),
        max_length=16,
        choices=Status.choices,
        default=Status.PENDING,
        help_text=_("The status the event was stored with."),
    )
    message = models.JSONField(_("message as sent"), help_text=_("The Segment call, verbatim."))
    payload = models.JSONField(
        _("payload for Seg"), null=True, blank=True, help_text=_("The JSON body sent to Seg.")
    )
    warnings = models.JSONField(
        _("mapping warnings"),
        default=list,
        blank=True,
        help_text=_("Values that could not be read and were left out of the payload."),
    )
    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("Delivery attempts claimed so far, in all.")
    )
    tries = models.PositiveIntegerField(
        _("tries this round"),
        default=0,
        help_text=_(
            "Attempts since the event last became deliverable (at ingest, or by a retry "
            "or replay); SEG_MAX_ATTEMPTS bounds it."
        ),
    )
    next_attempt_at = models.DateTimeField(
        _("next attempt"),
        null=True,
        blank=True,
        help_text=_("When the next attempt is due; while sending, when the lease runs out."),
    )
    enqueued_at = models.DateTimeField(
        _("wake-up queued"),
        null=True,
        blank=True,
        help_text=_("When a delivery task was last queued; blank when none is live."),
    )
    first_attempt_at = models.DateTimeField(
        _("first attempt"),
        null=True,
        blank=True,
        help_text=_("The retry window runs from here."),
    )
    last_error = models.TextField(
        _("last error"),
        blank=True,
        help_text=_("The last failed attempt's error; blank once delivered."),
    )
    timestamp = models.DateTimeField(
        _("event time"), help_text=_("timestamp, else originalTimestamp, else receipt.")
    )
    received_at = models.DateTimeField(
        _("received"), default=timezone.now, help_text=_("When the shop's call was stored.")
    )
    delivered_at = models.DateTimeField(
        _("delivered"), null=True, blank=True, help_text=_("When Seg answered 2xx.")
    )
    updated_at = models.DateTimeField(
        _("updated"), default=timezone.now, help_text=_("The row's last change.")
    )

    objects = EventQuerySet.as_manager()

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ("-received_at", "-id")
        permissions = (
            ("retry_event", "Can retry event deliveries"),
            ("suppress_event", "Can suppress events"),
        )
        constraints = (
            models.UniqueConstraint(
                fields=("message_id", "source"), name="seg_event_message_per_source"
            ),
        )
        indexes = (
            models.Index(
                fields=("next_attempt_at",),
                name="seg_event_due",
                condition=Q(status__in=("pending", "sending")),
            ),
            # Each customer's line of outstanding events, in delivery order
            # (integrations/lifecycle/ordering.py): the claim asks whether anything is
            # ahead. An order waits only on the server's events of its line (pages'
            # events never hold back the server's): its probe reads the source from
            # the row, so one index serves both probes and a row pays for one entry.
            models.Index(
                fields=("email", "timestamp", "id"),
                name="seg_event_in_line",
                condition=Q(status__in=("pending", "sending")),
            ),
            # A visitor's held events, oldest first: an identify releases a bounded
            # number of them per id (integrations/ingest/holds.py).
            models.Index(
                fields=("anonymous_id", "timestamp", "id"),
                name="seg_event_held_anon_line",
                condition=Q(status="held"),
            ),
            models.Index(
                fields=("user_id", "timestamp", "id"),
                name="seg_event_held_user_line",
                condition=Q(status="held"),
            ),
            models.Index(
                fields=("received_at",), name="seg_event_held_since", condition=Q(status="held")
            ),
            # A page's events that never got an email (held, or expired), which
            # retention deletes first (integrations/delivery/outbox.py); events in an end
            # state it finds by seg_event_status, a seek of each status.
            models.Index(
                fields=("received_at",),
                name="seg_event_unverified_any",
                condition=Q(
                    source="browser",
                    status__in=("held", "expired", "ignored", "withheld"),
                    email="",
                ),
            ),
            models.Index(fields=("-received_at", "-id"), name="seg_event_recent"),
            # The list's status filter and retention's seek, of the end states only
            # (retention's own condition, integrations/delivery/outbox.py): a
            # delivery's insert and claim add no entry here. The list finds pending
            # and sending rows by seg_event_due, held ones by seg_event_held_since.
            models.Index(
                fields=("status", "-received_at"),
                name="seg_event_status",
                condition=Q(status__in=ENDED),
            ),
            models.Index(fields=("call_type", "-received_at"), name="seg_event_call"),
            models.Index(fields=("seg_event", "-received_at"), name="seg_event_seg_event"),
            models.Index(
                fields=("-received_at",), name="seg_event_has_error", condition=~Q(last_error="")
            ),
            models.Index(
                fields=("delivered_at",),
                name="seg_event_delivered",
                condition=Q(status="delivered"),
            ),
            models.Index(fields=("email", "-received_at"), name="seg_event_email"),
            # The update-customer Seg accepted last for a customer: an identify
            # that says the same again is not sent (integrations/ingest/lookup.py).
            models.Index(
                fields=("email", "-delivered_at"),
                name="seg_event_accepted_update",
                condition=Q(action="update-customer", status="delivered"),
            ),
            # Each website's outstanding events: the sweep's pass around a website
            # whose circuit is open, and the dashboard's backlog per website.
            models.Index(
                fields=("website", "next_attempt_at"),
                name="seg_event_website_due",
                condition=Q(status__in=("pending", "sending")),
            ),
            models.Index(fields=("user_id",), name="seg_event_user"),
            # A visitor's events that never got an email: what erasing a customer
            # reaches through their anonymousIds (integrations/erasure).
            models.Index(
                fields=("anonymous_id",), name="seg_event_anonymous", condition=Q(email="")
            ),
            models.Index(fields=("order_id",), name="seg_event_order", condition=~Q(order_id="")),
        )

    def __str__(self) -> str:
        what = self.seg_event or self.name or self.call_type
        return f"{what} {self.message_id}"


class Attempt(models.Model):
    """One delivery attempt to Seg and its answer."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="attempt_set",
        verbose_name=_("event"),
        help_text=_("The event this attempt delivered, or tried to."),
    )
    number = models.PositiveIntegerField(_("attempt"), help_text=_("1 for the first attempt."))
    started_at = models.DateTimeField(_("started"), help_text=_("When the POST began."))
    duration_ms = models.FloatField(
        _("duration (ms)"), help_text=_("From the POST to Seg's answer, in milliseconds.")
    )
    url = models.CharField(_("URL"), max_length=500, help_text=_("The tracker URL posted to."))
    status_code = models.PositiveSmallIntegerField(
        _("HTTP status"),
        null=True,
        blank=True,
        help_text=_("Seg's HTTP status; blank when no answer came (timeout, refused)."),
    )
    response_excerpt = models.TextField(
        _("answer"), blank=True, help_text=_("The first 500 characters of Seg's answer.")
    )
    error_class = models.CharField(
        _("error class"),
        max_length=100,
        blank=True,
        help_text=_("e.g. 'HTTP 503' or 'ReadTimeout'; blank on success."),
    )
    error = models.TextField(
        _("error"), blank=True, help_text=_("What went wrong, for an operator; blank on success.")
    )
    verdict = models.CharField(
        _("verdict"),
        max_length=16,
        choices=[(verdict.value, verdict.value) for verdict in Verdict],
        help_text=_("What the answer meant: delivered, retry, or failed for good."),
    )
    retry_at = models.DateTimeField(
        _("retry at"), null=True, blank=True, help_text=_("When the next attempt was scheduled.")
    )

    class Meta:
        verbose_name = _("delivery attempt")
        verbose_name_plural = _("delivery attempts")
        ordering = ("event", "number", "id")
        indexes = (
            models.Index(fields=("event", "number"), name="seg_attempt_event"),
            models.Index(fields=("started_at",), name="seg_attempt_started"),
        )

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.event_id}"


class Identity(models.Model):
    """What is known of a userId or anonymousId: its email, and the user it belongs to."""

    class Kind(models.TextChoices):
        USER = "user", _("user id")
        ANONYMOUS = "anonymous", _("anonymous id")

    kind = models.CharField(
        _("kind"), max_length=16, choices=Kind.choices, help_text=_("Which of Segment's ids.")
    )
    value = models.CharField(_("id"), max_length=255, help_text=_("The id, as sent."))
    source = models.CharField(
        _("vouched for by"),
        max_length=16,
        choices=Source.choices,
        default=Source.SERVER,
        help_text=_(
            "The shop's server (a server key, the Python API, a signed identify): what "
            "every event resolves through. A page: an unsigned identify's claim about its own "
            "anonymous visitor, which only that visitor's page events resolve through."
        ),
    )
    email = models.CharField(
        _("email"),
        max_length=254,
        blank=True,
        help_text=_("The email the latest identify with an email gave it."),
    )
    user_id = models.CharField(
        _("user id"),
        max_length=255,
        blank=True,
        help_text=_("For an anonymous id: the user id an identify tied it to."),
    )
    updated_at = models.DateTimeField(
        _("updated"), default=timezone.now, help_text=_("When an identify last changed it.")
    )
    history = models.BooleanField(
        _("history only"),
        default=False,
        help_text=_(
            "Only a backfill of the shop's history made it known: a later backfilled call "
            "may replace it, and a live call that writes it (an identify giving it an email, "
            "even the same one) makes it live for good."
        ),
    )

    class Meta:
        verbose_name = _("identity")
        verbose_name_plural = _("identities")
        constraints = (
            models.UniqueConstraint(
                fields=("kind", "value", "source"), name="seg_identity_per_source"
            ),
        )
        indexes = (
            # The anonymous ids most recently tied to a user: an identify releases the
            # held events of a bounded number of them (SEG_RELEASE_ANONYMOUS_IDS).
            models.Index(fields=("user_id", "-updated_at"), name="seg_identity_user_recent"),
            # Anonymous ids by age: retention deletes what pages claimed after
            # SEG_BROWSER_RETENTION, the server's ties after SEG_RETENTION_DAYS
            # (integrations/delivery/outbox.py, forget_anonymous).
            models.Index(
                fields=("source", "updated_at"),
                name="seg_identity_anonymous_age",
                condition=Q(kind="anonymous"),
            ),
            models.Index(fields=("email",), name="seg_identity_email"),
        )

    def __str__(self) -> str:
        return f"{self.kind} {self.value} -> {self.email or '?'}"


class Alias(models.Model):
    """A customer moved from one email to another.

    Chains are followed to their end; where links loop, the newest of the loop
    (``sequence``) says where the customer is now: after A -> B and then B -> A, A is
    the customer's current email (contract, "alias").
    """

    previous_email = models.CharField(
        _("previous email"),
        max_length=254,
        unique=True,
        help_text=_("The email the customer had; a later alias from it replaces this row."),
    )
    email = models.CharField(
        _("new email"), max_length=254, db_index=True, help_text=_("The email they moved to.")
    )
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, help_text=_("When the alias call was stored.")
    )
    sequence = models.BigIntegerField(
        _("sequence"),
        default=0,
        help_text=_(
            "Orders aliases, newest highest (microseconds since 1970 when it was made, kept "
            "above every alias it was checked against). Where aliases loop, the newest wins."
        ),
    )
    message_id = models.CharField(
        _("alias message id"),
        max_length=255,
        blank=True,
        help_text=_("The messageId of the alias call that made this move."),
    )
    history = models.BooleanField(
        _("history only"),
        default=False,
        help_text=_(
            "Made by a backfill of the shop's history: a later backfilled alias may replace "
            "it, and a live alias from the same email makes it live for good."
        ),
    )

    class Meta:
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")

    def __str__(self) -> str:
        return f"{self.previous_email} -> {self.email}"


class SuppressionRule(models.Model):
    """Events matching a rule are stored as suppressed at ingest and never sent."""

    email = models.CharField(
        _("email"),
        max_length=254,
        blank=True,
        help_text=_("Suppress this customer's events; blank for any customer."),
    )
    seg_event = models.CharField(
        _("Seg event"),
        max_length=32,
        blank=True,
        choices=[(e.value, e.value) for e in SegEvent],
        help_text=_("Suppress this Seg event; blank for every event."),
    )
    reason = models.CharField(
        _("reason"), max_length=500, help_text=_("Shown on each event caught.")
    )
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("Only enabled rules catch events at ingest.")
    )
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, help_text=_("When the rule was made.")
    )
    created_by = models.CharField(
        _("created by"), max_length=150, blank=True, help_text=_("The admin user who made it.")
    )

    class Meta:
        verbose_name = _("suppression rule")
        verbose_name_plural = _("suppression rules")
        constraints = (
            models.CheckConstraint(
                condition=~Q(email="", seg_event=""), name="seg_rule_not_everything"
            ),
        )

    def __str__(self) -> str:
        what = self.seg_event or "every event"
        who = self.email or "every customer"
        return f"{what} for {who}"

    @property
    def cause(self) -> str:
        """What an event caught by this rule shows as its status reason."""
        return f"Suppressed by rule {self.pk}: {self.reason}"[:500]

    def matches(self, email: str, seg_event: str) -> bool:
        return (not self.email or self.email == email) and (
            not self.seg_event or self.seg_event == seg_event
        )


class StatusChange(models.Model):
    """A change of an event's status that no delivery attempt records.

    Operator actions, releases from hold, and expiry write one; each attempt
    is its own record in Attempt.
    """

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="status_changes",
        verbose_name=_("event"),
        help_text=_("The event whose status changed."),
    )
    at = models.DateTimeField(_("at"), default=timezone.now, help_text=_("When it changed."))
    status = models.CharField(
        _("new status"),
        max_length=16,
        choices=Status.choices,
        help_text=_("The status it moved to."),
    )
    cause = models.CharField(
        _("cause"), max_length=500, help_text=_("Who or what moved it, and why.")
    )

    class Meta:
        verbose_name = _("status change")
        verbose_name_plural = _("status changes")
        ordering = ("at", "id")
        indexes = (models.Index(fields=("event", "at"), name="seg_change_event"),)

    def __str__(self) -> str:
        return f"{self.event_id} -> {self.status} at {self.at:%Y-%m-%d %H:%M:%S}"


class ErasureKind(models.TextChoices):
    DELETE = "delete", _("delete")
    SUPPRESS = "suppress", _("suppress")
    BOTH = "both", _("delete and suppress")
    UNSUPPRESS = "unsuppress", _("unsuppress")


class ErasureRequest(models.Model):
    """One request about a customer's data (GDPR art. 17): who made it, when, its kind,
    what it deleted, and keyed hashes of the identifiers it reached, never the identifiers.

    Seg publishes no deletion API: a request that deleted data leaves the step of telling
    Seg to the operator, who marks it done (``seg_told_at``).
    """

    kind = models.CharField(
        _("kind"), max_length=16, choices=ErasureKind.choices, help_text=_("What was asked.")
    )
    requested_by = models.CharField(
        _("requested by"),
        max_length=150,
        help_text=_("The admin user, the command's --by, or the Python API's caller."),
    )
    requested_at = models.DateTimeField(
        _("requested"), default=timezone.now, help_text=_("When the request landed.")
    )
    finished_at = models.DateTimeField(
        _("finished"),
        null=True,
        blank=True,
        help_text=_("When it was carried out; blank while running."),
    )
    digests = models.JSONField(
        _("identifier hashes"),
        default=list,
        blank=True,
        help_text=_(
            "HMAC-SHA256 (SEG_ERASURE_KEY) of each email, userId and anonymousId the request "
            "reached; the identifiers themselves are not kept."
        ),
    )
    counts = models.JSONField(
        _("rows deleted"),
        default=dict,
        blank=True,
        help_text=_("Rows deleted, by model (events, attempts, status changes, identities…)."),
    )
    seg_to_tell = models.BooleanField(
        _("Seg must be told"),
        default=False,
        help_text=_(
            "Whether Seg must be asked to erase the customer too (it has no deletion API)."
        ),
    )
    seg_told_at = models.DateTimeField(
        _("Seg told"),
        null=True,
        blank=True,
        help_text=_("When the operator marked Seg as told; blank while that step is still to do."),
    )
    seg_told_by = models.CharField(
        _("Seg told by"), max_length=150, blank=True, help_text=_("Who marked Seg as told.")
    )

    class Meta:
        verbose_name = _("erasure request")
        verbose_name_plural = _("erasure requests")
        ordering = ("-requested_at", "-id")
        permissions = (("erase_customer", "Can erase and suppress customers"),)
        indexes = (
            models.Index(
                fields=("requested_at",),
                name="seg_erasure_seg_to_tell",
                condition=Q(seg_to_tell=True, seg_told_at__isnull=True),
            ),
        )

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} at {self.requested_at:%Y-%m-%d %H:%M}"

    @property
    def seg_step_open(self) -> bool:
        """Whether the operator has still to ask Seg to erase the customer."""
        return self.seg_to_tell and self.seg_told_at is None


class Suppression(models.Model):
    """One suppressed identifier, by its keyed hash: calls naming it are refused at ingest.

    Only the hash (``integrations.ingest.refusals.digest``) and a count of refusals are
    kept; nothing about a refused call is stored.
    """

    digest = models.CharField(
        _("identifier hash"),
        max_length=64,
        unique=True,
        help_text=_("HMAC-SHA256 (SEG_ERASURE_KEY) of a kind and an id: 'email:…', 'user:…'."),
    )
    request = models.ForeignKey(
        ErasureRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="suppressions",
        verbose_name=_("request"),
        help_text=_("The request that made it."),
    )
    refused = models.PositiveBigIntegerField(
        _("calls refused"), default=0, help_text=_("Calls refused at ingest since it was made.")
    )
    created_at = models.DateTimeField(
        _("created"), default=timezone.now, help_text=_("When the suppression was made.")
    )

    class Meta:
        verbose_name = _("suppressed identifier")
        verbose_name_plural = _("suppressed identifiers")

    def __str__(self) -> str:
        return f"suppressed {self.digest[:12]}…"


class BackfillRun(models.Model):
    """One run of ``manage.py seg_backfill``: what it reads, how far it got, what it refused.

    The cursor moves in the transaction that stores each chunk's events, so a
    run killed at any moment continues, given the same source, from the first
    item it had not stored.
    """

    class Kind(models.TextChoices):
        OSCAR = "oscar", _("django-oscar: customers and placed orders")
        JSONL = "jsonl", _("a JSON Lines file of Segment calls")

    class State(models.TextChoices):
        RUNNING = "running", _("running, or stopped before it finished")
        FINISHED = "finished", _("finished")
        FAILED = "failed", _("failed")

    kind = models.CharField(
        _("source"), max_length=8, choices=Kind.choices, help_text=_("What the run reads.")
    )
    path = models.CharField(
        _("file"),
        max_length=1000,
        blank=True,
        help_text=_("The JSON Lines file, as given to the command; blank for Oscar."),
    )
    since = models.DateTimeField(
        _("since"), null=True, blank=True, help_text=_("Only items dated at or after this.")
    )
    until = models.DateTimeField(
        _("until"), null=True, blank=True, help_text=_("Only items dated before this.")
    )
    state = models.CharField(
        _("state"),
        max_length=16,
        choices=State.choices,
        default=State.RUNNING,
        help_text=_("A run still running whose progress stopped moving was killed: run it again."),
    )
    cursor = models.JSONField(
        _("cursor"),
        default=dict,
        blank=True,
        help_text=_("Where the next item is: Oscar's phase and last key, or the file's line."),
    )
    total = models.PositiveIntegerField(
        _("items in all"), default=0, help_text=_("Items the source held when the run began.")
    )
    done = models.PositiveIntegerField(
        _("items read"), default=0, help_text=_("Items read so far, whatever became of them.")
    )
    stored = models.PositiveIntegerField(
        _("events stored"), default=0, help_text=_("Events stored for Seg by this run.")
    )
    repeated = models.PositiveIntegerField(
        _("already stored"),
        default=0,
        help_text=_("Items whose messageId was already stored: by an earlier run, or live."),
    )
    invalid = models.PositiveIntegerField(
        _("refused"), default=0, help_text=_("Items refused as the HTTP API would refuse them.")
    )
    suppressed = models.PositiveIntegerField(
        _("suppressed"),
        default=0,
        help_text=_(
            "Items not stored because they name a customer suppressed on request (GDPR art. "
            "17): counted only, nothing of them kept."
        ),
    )
    errors = models.JSONField(
        _("errors"),
        default=list,
        blank=True,
        help_text=_("The first refused items: where each was and why (at most 200)."),
    )
    rate = models.FloatField(
        _("rate cap"), default=0.0, help_text=_("Events per second the run stored at most.")
    )
    started_at = models.DateTimeField(
        _("started"), default=timezone.now, help_text=_("When the run was first started.")
    )
    updated_at = models.DateTimeField(
        _("last progress"), default=timezone.now, help_text=_("When the cursor last moved.")
    )
    finished_at = models.DateTimeField(
        _("finished"), null=True, blank=True, help_text=_("When it read its last item.")
    )

    class Meta:
        verbose_name = _("backfill run")
        verbose_name_plural = _("backfill runs")
        ordering = ("-started_at", "-id")
        indexes = (models.Index(fields=("kind", "path", "state"), name="seg_backfill_resume"),)

    def __str__(self) -> str:
        where = f" {self.path}" if self.path else ""
        return f"backfill #{self.pk} ({self.kind}{where}): {self.done}/{self.total}"

    @staticmethod
    def window(until: datetime | None, given: bool) -> str:
        """Which end a run's window has, and why (``seg_backfill``'s and the admin's words):
        ``until`` given as --until, else where live calls began (``LiveSince``)."""
        if until is None:
            return (
                "Items of every date: no --until, and the shop's server has sent no live call yet."
            )
        if given:
            return f"Items dated before {until.isoformat()} (--until)."
        return (
            f"Items dated before {until.isoformat()}: when the shop's server first sent a live "
            "call, the default (what came after went to Seg live); --until overrides it."
        )


class LiveSince(models.Model):
    """When the shop's server first sent the app a live call: one row, written once and
    never purged, so that a backfill knows from when the shop's orders went to Seg live
    whatever retention or an erasure deleted since (``BackfillRun``'s default ``until``).

    ``record`` writes it, from the oldest server event still stored, the first time it is
    asked: by the backfill, and by retention and erasure before they delete events. ``at``
    NULL: not known (migration 0018, on a shop whose older server events retention or an
    erasure may have deleted before this was kept); a backfill then needs ``--until``.
    """

    at = models.DateTimeField(
        _("first live call"),
        null=True,
        blank=True,
        help_text=_(
            "When the app received the first call of the shop's server it held, or that "
            "call's own date if earlier; blank: not known (events from before this was kept "
            "may have been deleted)."
        ),
    )
    recorded_at = models.DateTimeField(
        _("recorded"), default=timezone.now, help_text=_("When this moment was recorded.")
    )

    class Meta:
        verbose_name = _("start of live calls")
        verbose_name_plural = _("start of live calls")

    def __str__(self) -> str:
        return f"live calls since {self.at.isoformat() if self.at else 'a moment not known'}"

    @staticmethod
    def record() -> LiveSince | None:
        """The row (its ``at`` None: not known); else one recorded now from the event of
        source ``server`` received first of those still stored; None while the shop's
        server has sent nothing. ``at`` is the earlier of that event's receipt and its own
        ``timestamp``: items are chosen by their own dates, and a live order's (Oscar's
        ``date_placed``) is a moment before its receipt."""
        found = LiveSince.objects.filter(pk=1).first()
        if found is not None:
            return found
        events = Event.objects.filter(source=Source.SERVER).order_by("received_at", "pk")
        first = events.values_list("received_at", "timestamp").first()
        if first is None:
            return None
        LiveSince.objects.bulk_create([LiveSince(pk=1, at=min(first))], ignore_conflicts=True)
        return LiveSince.objects.get(pk=1)
