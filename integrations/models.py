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
            models.Index(fields=("user_id",), name="seg_event_user"),
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
