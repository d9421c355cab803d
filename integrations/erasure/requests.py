"""Carrying out a request about one customer, and the record it leaves.

``erase`` deletes (``deletion``), suppresses (``Suppression`` rows of keyed
hashes, refused at ingest by ``ingest.refusals``), or both; ``unsuppress``
lifts what earlier requests suppressed. Each writes an ``ErasureRequest`` with
who, when, the kind, the rows deleted and the keyed hashes of the ids reached.
The suppression is committed before anything is deleted, so that no call of
theirs is stored meanwhile; what was live is stopped before the bulk goes.
"""

from __future__ import annotations

from collections import Counter
from typing import cast

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from ..core import JSONObject, SegmentMessage
from ..ingest import digest, identifiers
from ..models import (
    Alias,
    ErasureKind,
    ErasureRequest,
    Identity,
    LiveSince,
    Source,
    Suppression,
    SuppressionRule,
)
from . import deletion, graph

# Rounds of stop-and-delete before giving up on a customer whose events keep coming
# back (an operator replaying them meanwhile): each round deletes what the last left.
ROUNDS = 5


def erase(
    email: str | None = None,
    user_id: str | None = None,
    *,
    delete: bool = True,
    suppress: bool = False,
    by: str,
) -> ErasureRequest:
    """Erase and/or suppress the customer ``email`` or ``user_id`` names; the finished record.

    ``delete``: their events (with attempts and status history), identities,
    aliases and the suppression rules naming their emails are deleted, in
    batches. ``suppress``: their later calls are refused at ingest. ``by``: who
    asks (kept on the record). Raises ErasureError for a request naming no one, or
    a graph too wide to be one customer (``graph.reach``). Blocks until done:
    when a worker holds one of their events, until its post is over (at most
    SEG_LEASE for a claim made before the request, a post's deadline after).
    """
    if not (delete or suppress):
        raise ValueError("An erasure request deletes, suppresses, or both.")
    kind = (
        ErasureKind.BOTH
        if delete and suppress
        else (ErasureKind.DELETE if delete else ErasureKind.SUPPRESS)
    )
    customer = graph.reach(graph.named(email, user_id))
    digests = customer.digests()
    with transaction.atomic():
        record = ErasureRequest.objects.create(
            kind=kind,
            requested_by=by[:150],
            digests=digests,
            seg_to_tell=delete,
        )
        if suppress:
            Suppression.objects.bulk_create(
                [Suppression(digest=d, request=record) for d in digests], ignore_conflicts=True
            )
    counts: Counter[str] = Counter()
    if delete:
        _delete(customer, counts)
    record.counts = dict(sorted(counts.items()))
    record.finished_at = timezone.now()
    record.save(update_fields=("counts", "finished_at"))
    return record


def _delete(customer: graph.Customer, counts: Counter[str]) -> None:
    # Recorded before the customer's server events may go; asked only when they have
    # some (by their ids' indexes), so a shop whose server sends nothing is never searched.
    if not LiveSince.objects.exists() and customer.events().filter(source=Source.SERVER).exists():
        LiveSince.record()
    deletion.wait_for_claims(customer)  # workers check the claims made from now on
    for _ in range(ROUNDS):
        revoked = deletion.stop(customer, timezone.now(), counts)
        bulk = deletion.delete_events(customer, counts, keep=[r.event_id for r in revoked])
        deletion.wait_out(revoked)
        deletion.delete_events(customer, counts)
        if not (revoked or bulk):
            break
    deletion.delete_rows(Identity.objects.filter(customer.identities()), counts)
    deletion.delete_rows(Alias.objects.filter(customer.aliases()), counts)
    deletion.scrub_backfill_errors(customer, counts)
    rules = SuppressionRule.objects.filter(email__in=customer.emails)
    rule_ids = [str(pk) for pk in rules.values_list("pk", flat=True)]
    deletion.delete_rows(rules, counts)
    if rule_ids:  # the admin's log names a rule by its email
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(SuppressionRule),
            object_id__in=rule_ids,
        ).delete()


def unsuppress(email: str | None = None, user_id: str | None = None, *, by: str) -> ErasureRequest:
    """Lift the suppressions of every request that suppressed this email or userId; the
    record (its counts: ``suppressions`` lifted). Raises ErasureError as ``erase``."""
    named = graph.named(email, user_id)
    digests = named.digests()
    with transaction.atomic():
        requests = set(
            Suppression.objects.filter(digest__in=digests)
            .exclude(request=None)
            .values_list("request", flat=True)
        )
        lifted = Suppression.objects.filter(digest__in=digests) | Suppression.objects.filter(
            request__in=requests
        )
        hashes = sorted(lifted.values_list("digest", flat=True))
        count, _ = lifted.delete()
        return ErasureRequest.objects.create(
            kind=ErasureKind.UNSUPPRESS,
            requested_by=by[:150],
            digests=hashes or digests,
            counts={"suppressions": count},
            finished_at=timezone.now(),
        )


def mark_seg_told(record: ErasureRequest, by: str) -> bool:
    """Mark the step of asking Seg to erase the customer done; False if it was not open."""
    done = ErasureRequest.objects.filter(pk=record.pk, seg_to_tell=True, seg_told_at=None).update(
        seg_told_at=timezone.now(), seg_told_by=by[:150]
    )
    return bool(done)


ERASED = "names a customer erased on request (GDPR art. 17): not sent again"


def erased_digests() -> set[str]:
    """The identifier hashes every request that deleted data reached (delete, or both):
    the shop's own records may still hold those customers, and a backfill of them must
    not bring them back to Seg."""
    kinds = (ErasureKind.DELETE, ErasureKind.BOTH)
    requests = ErasureRequest.objects.filter(kind__in=kinds).values_list("digests", flat=True)
    return {hashed for digests in requests for hashed in digests}


def names_erased(call: JSONObject, erased: set[str]) -> bool:
    """Whether Segment ``call`` names any id whose hash is in ``erased``."""
    if not erased:
        return False
    named = identifiers(cast(SegmentMessage, call))
    return any(digest(kind, value) in erased for kind, value in named)
