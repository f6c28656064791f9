"""The controller's error classes: every layer above the adapters speaks only these.

Adapters translate botocore's ``ClientError`` into them (``raise ... from exc``), so no
other module inspects AWS error codes.
"""


class JobctlError(Exception):
    """Base class of the controller's own errors."""


class RetryableError(JobctlError):
    """A transient failure (throttling, capacity, 5xx, timeout): try the work again later."""


class InvalidRequest(JobctlError):
    """A request that breaks a rule. It is recorded as ``Rejected`` and never retried.

    ``problems`` name the field and the rule, never the offending value: values may be
    secrets (docs/contract.md §7).
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(summarize(problems))


# A rejection's reason goes into a ledger item (400 KB at most) and a notice (256 KB):
# a hostile request can have thousands of problems, so name the first ones and count the rest.
MAX_PROBLEMS = 20
MAX_PROBLEM_LENGTH = 300


def summarize(problems: list[str]) -> str:
    shown = [
        p if len(p) <= MAX_PROBLEM_LENGTH else p[: MAX_PROBLEM_LENGTH - 1] + "…"
        for p in problems[:MAX_PROBLEMS]
    ]
    hidden = len(problems) - len(shown)
    return "; ".join(shown) + (f"; and {hidden} more problems" if hidden else "")


class JobAlreadyExists(JobctlError):
    """SageMaker already holds a job of this name (``ResourceInUse`` on create)."""


class JobNotFound(JobctlError):
    """SageMaker does not know the job (yet: Describe is eventually consistent)."""


class ConcurrentUpdate(JobctlError):
    """A ledger write lost a race; the caller re-reads and decides again."""


class NoRoom(JobctlError):
    """A budget had no room left for an admission (another one took it first)."""


class StaleHold(JobctlError):
    """An admission found the job already holding room while its record says it waits:
    room a failed release left behind (the record itself is unchanged)."""


class ExpiredCursor(JobctlError):
    """SageMaker no longer accepts a List NextToken a sweep stored: start the scan afresh."""


class UnreadableRecord(JobctlError):
    """A ledger record that does not parse (damaged by hand, or by a bug). Its message
    names the key only: the record may hold a job's ``Environment``."""

    def __init__(self, job_name: str, job_type: str) -> None:
        self.key = (job_name, job_type)
        super().__init__(f"ledger record {job_type}/{job_name} cannot be read")


class RecordMissing(JobctlError):
    """A ledger record that should be there is not: records are never deleted, so a bug,
    or a record deleted by hand."""

    def __init__(self, job_name: str, job_type: str) -> None:
        self.key = (job_name, job_type)
        super().__init__(f"ledger record {job_type}/{job_name} is missing")


class IllegalMove(JobctlError):
    """A move ``logic.lifecycle``'s table does not allow from the job's phase: another
    invocation moved the job first, or a bug; never a user's error."""


class ServiceRefused(JobctlError):
    """AWS refused a call for a reason that trying again will not cure by itself (a
    permission, a misconfiguration): a submission is retried its bounded number of times,
    then given up (SubmitFailed, one notice), so an operator can fix the cause and redrive."""


class WaitingRoomFull(JobctlError):
    """A new job may not join the waiting room: it is at one of its bounds
    (MAX_WAITING_JOBS, MAX_WAITING_SHARES), which the message names."""


class UnreadableWaitingRoom(JobctlError):
    """The waiting room's counts in the state table do not parse (damaged by hand, or by
    a bug): the sweep counts the shares' queues again."""

    def __init__(self, item_id: str) -> None:
        self.item_id = item_id
        super().__init__(
            f"the waiting room's counts ({item_id} in the state table) cannot be read: "
            "the next sweep counts them again"
        )


class UnreadableBudget(JobctlError):
    """A budget's item in the state table that does not parse (damaged by hand, or by a
    bug), named by its id (and ``budget``, the budget's key, when it is a budget's room)."""

    def __init__(self, item_id: str, budget: str | None = None) -> None:
        self.item_id = item_id
        self.budget = budget
        super().__init__(f"budget item {item_id} in the state table cannot be read")
