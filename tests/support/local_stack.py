"""The local stack started in the test's own process, and what it changes for the process
(environment, the handlers' controller, log level, and moto's in-process backends, which
every moto in a process shares) put back when it stops."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from moto import mock_aws

from jobctl import handlers
from jobctl.observability import logger
from jobctl_tools.local.stack import LocalStack, LocalStackOptions


@contextmanager
def local_stack_in_process(options: LocalStackOptions) -> Iterator[LocalStack]:
    saved, level = dict(os.environ), logger.log_level
    local = LocalStack(options).start()
    try:
        yield local
    finally:
        local.stop()
        with mock_aws():  # starting and stopping a mock resets moto's in-process backends
            pass
        os.environ.clear()
        os.environ.update(saved)
        handlers.use(None)
        logger.setLevel(level)
