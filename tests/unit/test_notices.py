"""A published notice is recorded as sent even through a run of failing writes: a notice
out but not recorded is the one way a job is announced twice (README, "Notices")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobctl.errors import RetryableError
from jobctl.logic.records import announce
from jobctl.models.jobs import JobRecord
from tests.support.fakes import InMemoryLedger, InMemoryNotices

NOW = datetime(2026, 12, 1, tzinfo=UTC)


class FailingAfterPublish(InMemoryLedger):
    """A ledger whose writes fail ``failures`` times once the notice is claimed."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def update(self, record: JobRecord, read: JobRecord) -> JobRecord:
        if read.notice_claimed_at is not None and self.failures > 0:
            self.failures -= 1
            raise RetryableError("DynamoDB: InternalServerError")
        return super().update(record, read)


def settled(ledger: InMemoryLedger) -> JobRecord:
    record = JobRecord(
        job_name="a",
        job_type="TrainingJob",
        status="Completed",
        created_at="2026-12-01T00:00:00+00:00",
        updated_at="2026-12-01T00:00:00+00:00",
    )
    return ledger.insert(record)


def test_a_published_notice_is_recorded_through_five_failed_writes() -> None:
    ledger, notices = FailingAfterPublish(failures=5), InMemoryNotices()
    recorded = announce(ledger, notices, settled(ledger), lambda: NOW, timedelta(minutes=5))
    assert notices.statuses("a") == ["Completed"]
    assert not recorded.notice_pending


def test_a_notice_whose_record_keeps_failing_is_left_to_its_claims_lease() -> None:
    ledger, notices = FailingAfterPublish(failures=100), InMemoryNotices()
    with pytest.raises(RetryableError):
        announce(ledger, notices, settled(ledger), lambda: NOW, timedelta(minutes=5))
    assert notices.statuses("a") == ["Completed"]
    assert ledger.get("a", "TrainingJob").notice_claimed_at is not None  # type: ignore[union-attr]
