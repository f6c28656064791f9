"""The two Lambda handlers, and the controller they share in a container."""

from __future__ import annotations

from jobctl.adapters.aws import clients
from jobctl.bootstrap import Controller, bootstrap
from jobctl.config import get_settings

_controller: Controller | None = None


def controller() -> Controller:
    """This container's controller, built on first use from the environment's settings."""
    global _controller
    if _controller is None:
        settings = get_settings()
        _controller = bootstrap(settings, clients(service_quotas=settings.instance_quotas_auto))
    return _controller


def use(built: Controller | None) -> None:
    """Run the handlers on ``built`` (tests, the local stack, the benchmarks build their
    own); None: build one from the environment again on first use."""
    global _controller
    _controller = built
