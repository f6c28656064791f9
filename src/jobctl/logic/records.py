"""Safe changes to ledger records, and the exactly-once announcement of outcomes.

Every ledger write is a compare-and-swap on the record's version, so two invocations
working on one job can't lose each other's update: the loser re-reads and decides again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from jobctl.errors import ConcurrentUpdate, IllegalMove, RecordMissing, RetryableError
from jobctl.logic import lifecycle
from jobctl.logic.ports import Ledger, NoticePublisher
from jobctl.models.jobs import JobRecord, Notice, utc_iso
from jobctl.observability import count, logger

_ATTEMPTS = 5
# A notice out but not recorded is sent again after its lease: worth several tries (each
# try is a read and a write, so one lost write does not spend it).
_RECORD_NOTICE_TRIES = 6


def revise(
    ledger: Ledger,
    key: tuple[str, str],
    change: Callable[[JobRecord], JobRecord | None],
    current: JobRecord | None = None,
) -> JobRecord:
    """Apply ``change`` to the stored record until the write wins, and return the record
    as it then is.

    ``change`` returns the new record, or None when there is nothing to write. A move
    that ``logic.lifecycle``'s table does not allow from the record's phase now (another
    invocation moved the job first) is nothing to write either: the record is returned
    as it is. Records are never deleted: a missing one is RecordMissing.
    """
    for _ in range(_ATTEMPTS):
        if current is None:
            current = ledger.get(*key)
            if current is None:
                raise RecordMissing(*key)
        try:
            updated = change(current)
        except IllegalMove as refused:
            logger.debug("the job moved meanwhile", extra={"refused": str(refused)})
            return current
        if updated is None:
            return current
        try:
            return ledger.update(updated, current)
        except ConcurrentUpdate:
            current = None
    raise RetryableError(f"ledger record {key} kept changing under us")


def revise_with_steps(
    ledger: Ledger,
    key: tuple[str, str],
    change: Callable[[JobRecord], JobRecord | None],
    current: JobRecord | None = None,
) -> tuple[JobRecord, lifecycle.NextSteps]:
    """``revise``, and what the write leaves to do: ``lifecycle.next_steps`` from the record
    the winning ``change`` read to the record as it then is."""
    read: list[JobRecord] = []

    def reading(record: JobRecord) -> JobRecord | None:
        read[:] = [record]
        return change(record)

    updated = revise(ledger, key, reading, current)
    return updated, lifecycle.next_steps(read[0] if read else updated, updated)


def announce(
    ledger: Ledger,
    publisher: NoticePublisher,
    record: JobRecord,
    now: Callable[[], datetime],
    lease: timedelta,
) -> JobRecord:
    """Publish the record's notice if it is due and nobody else is publishing it.

    The publisher first claims the notice (a conditional write), publishes, then records
    ``notified_at``. A crash after publishing and before that last write leaves the claim
    to expire, and the sweep publishes again: at-least-once, with a duplicate only in that
    window (see README, "Notices").
    """
    if not record.notice_pending:
        return record
    claimed_at = record.notice_claimed_at
    if claimed_at is not None and claimed_at > utc_iso(now() - lease):
        return record  # another invocation holds a fresh claim
    try:
        claimed = ledger.update(lifecycle.claim_notice(record, utc_iso(now())), record)
    except ConcurrentUpdate:
        return record  # someone else changed it first; whoever holds it announces it
    try:
        publisher.publish(Notice.of(claimed))
    except RetryableError:
        # Let the next attempt (a retried event, or the sweep) claim it at once.
        revise(ledger, claimed.key, partial(lifecycle.claim_notice, at=None))
        raise
    count("NoticesPublished", status=claimed.status)
    logger.info("notice published", extra={"status": claimed.status})
    # The notice is out: recording it is worth a few tries, since a claim left to expire
    # means the sweep publishes it again.
    for attempt in range(_RECORD_NOTICE_TRIES):
        try:
            return revise(
                ledger,
                claimed.key,
                partial(lifecycle.notice_sent, at=utc_iso(now())),
                current=claimed if attempt == 0 else None,
            )
        except RetryableError:
            if attempt == _RECORD_NOTICE_TRIES - 1:
                raise
    raise AssertionError("unreachable")
