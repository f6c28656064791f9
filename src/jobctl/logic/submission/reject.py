"""A request that breaks a rule is recorded as Rejected and announced (docs/contract.md §3,
§4). A rejection uses nothing up: it never takes the name from a job that was submitted or
waits, and a later request (the corrected one) takes the name over."""

from __future__ import annotations

from dataclasses import dataclass

from jobctl.errors import ConcurrentUpdate, UnreadableRecord, summarize
from jobctl.logic import lifecycle
from jobctl.logic.submission.context import Context, Delivery, Outcome
from jobctl.models.jobs import REJECTED, HistoryEntry, JobRecord, Phase, utc_iso
from jobctl.models.requests import JobRequest
from jobctl.observability import count, logger, report_unreadable

UNKNOWN_JOB = "job_name: no job of this name and type in the ledger"
UNREADABLE = "job_name: its ledger record cannot be read (an operator must repair it)"


@dataclass(frozen=True)
class Rejections:
    context: Context

    def existing(self, request: JobRequest, delivery: Delivery) -> JobRecord | Outcome:
        """The record an action on an existing job (stop, update) acts on; or, when the
        ledger holds none (or only a rejection) or it cannot be read, the rejection."""
        try:
            record = self.context.ledger.get(request.name, request.job_type)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            return self.reject(request, [UNREADABLE], delivery, own_key=False)
        if record is None or record.status == REJECTED:
            return self.reject(request, [UNKNOWN_JOB], delivery)
        return record

    def reject(
        self, request: JobRequest, problems: list[str], delivery: Delivery, own_key: bool = True
    ) -> Outcome:
        """Reject a parsed request: keyed by its job name if it gave one (and ``own_key``)."""
        name = request.name if (own_key and request.name_given) else None
        return self.reject_raw(
            problems,
            delivery,
            request.job_type,
            job_name=name,
            request_id=request.rid,
            body_hash=request.body_hash,
        )

    def reject_raw(
        self,
        problems: list[str],
        delivery: Delivery,
        job_type: str | None,
        job_name: str | None = None,
        request_id: str | None = None,
        body_hash: str | None = None,
    ) -> Outcome:
        """Reject what may not even parse. Keyed by the job name when the request gave one
        and that key is free or holds only a rejection, else by ``rejected-<message id>``."""
        reason = summarize(problems)
        at = utc_iso(self.context.now())
        job_type = job_type or "Unknown"
        keys = [(job_name, job_type)] if job_name else []
        keys.append((f"rejected-{delivery.message_id}", job_type))
        for key_name, key_type in keys:
            rejection = JobRecord(
                job_name=key_name,
                job_type=key_type,
                status=REJECTED,
                failure_reason=reason,
                request_id=request_id,
                body_hash=body_hash,
                created_at=at,
                updated_at=at,
                history=[HistoryEntry(status=REJECTED, at=at)],
                message_id=delivery.message_id,
            )
            record = self._recorded(rejection, delivery)
            if record is None:
                continue  # another request's job: never overwrite it
            count("RequestsRejected", job_type=key_type)
            logger.info("request rejected", extra={"reason": reason})
            return Outcome.of(self.context.announce(record))
        raise AssertionError("the rejected-<message id> key is always free or ours")

    def reject_own(self, record: JobRecord, problems: list[str]) -> Outcome:
        """Reject a request that already has its Queued record: the record itself says so."""
        reason = summarize(problems)
        rejected = self.context.settle(record, REJECTED, reason)
        count("RequestsRejected", job_type=record.job_type)
        logger.info("request rejected", extra={"reason": reason})
        return Outcome.of(self.context.announce(rejected))

    def _recorded(self, rejection: JobRecord, delivery: Delivery) -> JobRecord | None:
        """The rejection as written at its key; None if the key is another request's job."""
        ledger = self.context.ledger
        try:
            return ledger.insert(rejection)
        except ConcurrentUpdate:
            pass
        try:
            existing = ledger.get(*rejection.key)
        except UnreadableRecord as unreadable:
            report_unreadable(unreadable)
            return None
        if existing is None:
            return None
        if existing.message_id == delivery.message_id or _same_request(existing, rejection):
            return existing  # a redelivery of this very message, or a copy of the request
        if existing.phase != Phase.REJECTED:
            return None
        replaced = self.context.revise(
            existing, lambda current: lifecycle.reject_again(current, rejection)
        )
        # Taken over by another request meanwhile: this rejection goes to its own key.
        return replaced if replaced.message_id == delivery.message_id else None


def _same_request(existing: JobRecord, rejection: JobRecord) -> bool:
    """A rejected request sent again unchanged (a producer's duplicate) is the same
    rejection: one record, one notice. Corrected, it is a new request."""
    return (
        existing.status == REJECTED
        and rejection.body_hash is not None
        and (existing.request_id, existing.body_hash) == (rejection.request_id, rejection.body_hash)
    )
