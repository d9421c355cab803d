"""Send a shop's history to Seg: resumable runs of Segment calls, paced under a rate cap.

A source (``JsonLines`` here, ``integrations.contrib.oscar.history`` for an Oscar shop) yields
items in a fixed order, each with a deterministic messageId and a cursor that says where the
next one is. ``run`` stores them through the one write path (``ingest``, source ``backfill``:
unique messageIds within it, the wake-ups on the ``seg_backfill`` queue a worker serves last),
a chunk per transaction that also moves the run's cursor: a run killed at any moment resumes
after the last chunk it stored, and an item stored before is counted, never stored or sent
again. Chunks are paced at SEG_BACKFILL_RATE events per second, and wait while the backlog they
made is more than a few seconds' worth, so the history never takes more of Seg's limit, or of
the workers' time, than the cap.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Protocol

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from . import conf, erasure
from .core import JSON, JSONObject, decode_body, event_time, validate
from .exceptions import InvalidMessage, rule_broken
from .ingest import digest, identifiers, ingest
from .models import BackfillRun, Event, Source, Suppression
from .pace import Pace

# Refused items a run keeps the details of; past it, only counts.
KEPT_ERRORS = 200


@dataclass(frozen=True)
class Item:
    """One item of a source: the call to store (None when refused as read), where it is
    (``where``, for people), the cursor past it, why it was refused, and its Seg website.

    ``where`` and ``error`` are kept on the run, which outlives an erasure of the customer:
    they say where by line, order number or customer pk, and the rule broken, never a value
    of the call (``exceptions.rule_broken``)."""

    call: JSONObject | None
    where: str
    cursor: JSONObject
    error: str = ""
    website: str | None = None  # None: SEG_WEBSITE_ID


class HistorySource(Protocol):
    """What ``run`` reads: its kind and path (which runs it resumes), its size, its items."""

    kind: str
    path: str

    def count(self, since: datetime | None, until: datetime | None) -> int:
        """Items in the window, about: the progress bar's total."""

    def items(
        self, cursor: JSONObject, since: datetime | None, until: datetime | None
    ) -> Iterator[Item]:
        """Items after ``cursor`` (``{}``: from the start) in the window, in a fixed order."""


@dataclass
class Progress:
    """What a run (or a dry run) has done so far."""

    total: int = 0
    done: int = 0
    stored: int = 0
    repeated: int = 0
    invalid: int = 0
    suppressed: int = 0  # naming a suppressed customer: counted, nothing of them kept
    errors: list[JSONObject] = field(default_factory=list)


def message_id_for(line: bytes) -> str:
    """The messageId a call without one takes: ``backfill-`` and the first 32 hex digits of
    SHA-256 of its bytes, so the same call is the same item in every run."""
    return "backfill-" + hashlib.sha256(line.strip()).hexdigest()[:32]


class JsonLines:
    """A file of Segment calls, one JSON object a line, each read as the HTTP API reads a
    batch's item (``decode_body``, then ``validate`` at ingest; ``type`` names the call).

    A call without a messageId takes ``message_id_for``. Its ``sentAt`` is dropped: it was
    sent long ago, and correcting its clock by it would move it to now; its ``timestamp``
    (else ``originalTimestamp``) stands. The cursor: the next line's byte offset and number.
    """

    kind: str = BackfillRun.Kind.JSONL

    def __init__(self, path: str | Path) -> None:
        self.path = str(Path(path).resolve())  # a run resumes from any directory

    def count(self, since: datetime | None, until: datetime | None) -> int:
        with open(self.path, "rb") as lines:
            return sum(1 for line in lines if line.strip())

    def items(
        self, cursor: JSONObject, since: datetime | None, until: datetime | None
    ) -> Iterator[Item]:
        offset, number = int(cursor.get("offset", 0)), int(cursor.get("line", 0))
        with open(self.path, "rb") as lines:
            lines.seek(offset)
            for line in lines:
                offset, number = offset + len(line), number + 1
                if not line.strip():
                    continue
                where, after = f"line {number}", {"offset": offset, "line": number}
                try:
                    call = self._read(line)
                    moment = event_time(validate(dict(call)), timezone.now())
                except InvalidMessage as error:
                    yield Item(None, where, after, rule_broken(error))
                    continue
                if (since and moment < since) or (until and moment >= until):
                    yield Item(None, where, after)  # outside the window: read, not sent
                    continue
                yield Item(call, where, after)

    @staticmethod
    def _read(line: bytes) -> JSONObject:
        call = decode_body(line, None)
        if not isinstance(call, dict):
            raise InvalidMessage("A line must be one JSON object.")
        call = {key: value for key, value in call.items() if key not in ("writeKey", "sentAt")}
        if not call.get("messageId"):
            call["messageId"] = message_id_for(line)
        return call


def resumable(source: HistorySource, since: datetime | None, until: datetime | None) -> BackfillRun:
    """The unfinished run of ``source`` over this window (killed, or failed), or a new one."""
    found = (
        BackfillRun.objects.filter(kind=source.kind, path=source.path, since=since, until=until)
        .exclude(state=BackfillRun.State.FINISHED)
        .first()
    )
    if found is not None:
        BackfillRun.objects.filter(pk=found.pk).update(state=BackfillRun.State.RUNNING)
        found.state = BackfillRun.State.RUNNING
        return found
    return BackfillRun.objects.create(kind=source.kind, path=source.path, since=since, until=until)


def run(
    source: HistorySource,
    record: BackfillRun,
    *,
    rate: float | None = None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """Store ``source``'s items after ``record``'s cursor, at most ``rate`` events a second
    (SEG_BACKFILL_RATE when None); the run's progress, also kept on ``record``.

    Each chunk commits with the run's cursor and counts. An item whose messageId the shop's
    server (its live receivers) or this source stored before counts as ``repeated``. A
    refused item (one naming an erased customer too) is counted and its reason kept, and the
    run goes on; one naming a suppressed customer (refused at ingest) counts as
    ``suppressed``, and nothing of it is kept. ``on_progress`` is called after each chunk.
    Database errors propagate, leaving the run resumable; any other error marks it failed.
    """
    rate = float(rate if rate is not None else conf.get_setting("SEG_BACKFILL_RATE"))
    if rate <= 0:
        raise ValueError("The backfill's rate must be above 0 events per second.")
    size = max(1, min(int(conf.get_setting("SEG_DELIVERY_BATCH")), int(rate / 4) or 1))
    total = source.count(record.since, record.until)
    BackfillRun.objects.filter(pk=record.pk).update(total=total, rate=rate)
    record.refresh_from_db()
    counts = ("done", "stored", "repeated", "invalid", "suppressed", "errors")
    progress = Progress(total, **{name: getattr(record, name) for name in counts})
    on_progress(progress)
    pace = Pace(rate)
    items = source.items(record.cursor, record.since, record.until)
    erased = erasure.erased_digests()
    try:
        while chunk := list(islice(items, size)):
            chunk = [  # an erased customer is not brought back (erasure.names_erased)
                Item(None, i.where, i.cursor, erasure.ERASED)
                if i.call and erasure.names_erased(i.call, erased)
                else i
                for i in chunk
            ]
            calls = [item.call for item in chunk if item.call is not None]
            pace.wait(len(calls))
            _store(record, chunk, calls, progress)
            on_progress(progress)
    except Exception as error:
        progress.errors = [*progress.errors, {"where": "run", "error": rule_broken(error)}]
        progress.errors = progress.errors[:KEPT_ERRORS]
        failed = BackfillRun.State.FAILED
        BackfillRun.objects.filter(pk=record.pk).update(state=failed, errors=progress.errors)
        raise
    now = timezone.now()
    BackfillRun.objects.filter(pk=record.pk).update(
        state=BackfillRun.State.FINISHED, finished_at=now, updated_at=now
    )
    return progress


def dry_run(
    source: HistorySource,
    since: datetime | None,
    until: datetime | None,
    on_progress: Callable[[Progress], None] = lambda progress: None,
) -> Progress:
    """What ``run`` would do, storing nothing: each item read and validated, and counted
    as ``run`` counts it: repeated when the shop's server stored it, else suppressed when
    it names a suppressed customer, else repeated when a backfill stored it."""
    progress = Progress(total=source.count(since, until))
    items, erased = source.items({}, since, until), erasure.erased_digests()
    while chunk := list(islice(items, 500)):
        calls = [item.call for item in chunk if item.call is not None]
        suppressed = _suppressed(calls)  # counted after what the server stored, as run does
        repeated = _stored(calls, [Source.SERVER]) | (_stored(calls) - suppressed)
        for item in chunk:
            progress.done += 1
            error = item.error
            if item.call is not None and not error:
                try:
                    validate(dict(item.call))
                except InvalidMessage as refused:
                    error = rule_broken(refused)
                if not error and erasure.names_erased(item.call, erased):
                    error = erasure.ERASED
            if error:
                progress.invalid += 1
                progress.errors.append({"where": item.where, "error": error[:500]})
            elif item.call is not None:
                if item.call["messageId"] in repeated:
                    progress.repeated += 1
                elif item.call["messageId"] in suppressed:
                    progress.suppressed += 1
                else:
                    progress.stored += 1
        on_progress(progress)
    return progress


def _store(record: BackfillRun, chunk: list[Item], calls: list[JSONObject], p: Progress) -> None:
    errors: list[JSONObject] = [
        {"where": item.where, "error": item.error[:500]} for item in chunk if item.error
    ]
    with transaction.atomic():
        live = _stored(calls, (Source.SERVER,))
        fresh = [i for i in chunk if i.call and i.call["messageId"] not in live]
        stored, repeated, suppressed = 0, len(calls) - len(fresh), 0
        for website in dict.fromkeys(i.website for i in fresh):  # in the items' order
            items = [i for i in fresh if i.website == website]
            # Under the ids' locks (the run holds no other): an erasure finds these rows.
            result = ingest(
                [i.call for i in items], None, source=Source.BACKFILL, website=website, lock=True
            )
            errors += [{"where": items[n].where, "error": rule_broken(e)} for n, e in result.errors]
            stored, repeated = stored + result.stored, repeated + result.duplicates
            suppressed += result.refused
        p.done, p.stored, p.repeated = p.done + len(chunk), p.stored + stored, p.repeated + repeated
        p.suppressed += suppressed
        p.invalid += len(errors)
        p.errors = (p.errors + errors)[:KEPT_ERRORS]
        BackfillRun.objects.filter(pk=record.pk).update(
            cursor=chunk[-1].cursor,
            done=F("done") + len(chunk),
            stored=F("stored") + stored,
            repeated=F("repeated") + repeated,
            invalid=F("invalid") + len(errors),
            suppressed=F("suppressed") + suppressed,
            errors=p.errors,
            updated_at=timezone.now(),
        )


def _suppressed(calls: Iterable[JSONObject]) -> set[JSON]:
    """The messageIds among ``calls`` that name a suppressed customer (``ingest.refusals``)."""
    named: dict[str, set[JSON]] = {}
    for call in calls:
        try:
            for kind, value in identifiers(validate(dict(call))):
                named.setdefault(digest(kind, value), set()).add(call["messageId"])
        except InvalidMessage:
            continue
    found = Suppression.objects.filter(digest__in=list(named)).values_list("digest", flat=True)
    return {message_id for hashed in found for message_id in named[hashed]}


def _stored(calls: Iterable[JSONObject], sources: Iterable[str] = ()) -> set[JSON]:
    """The messageIds among ``calls`` stored by the server or the backfill (or ``sources``)."""
    ids = [call["messageId"] for call in calls]
    rows = Event.objects.filter(
        source__in=list(sources) or [Source.SERVER, Source.BACKFILL], message_id__in=ids
    )
    return set(rows.values_list("message_id", flat=True))
