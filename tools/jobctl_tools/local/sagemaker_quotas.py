"""SageMaker's account quotas as Service Quotas names them, and what the simulated account
has been granted.

SageMaker counts a training job's instances per instance type, on-demand and spot
apart: "ml.p4d.24xlarge for training job usage" and "ml.p4d.24xlarge for spot training
job usage", each a number of instances the account may run at once. ``QUOTAS`` holds
one of each for every training instance type in botocore's model, and some of
SageMaker's other quotas (endpoints, processing, "Number of instances across all
training jobs"...), which the simulator lists but does not enforce.

Where the values come from: a ListAWSDefaultServiceQuotas dump of every adjustable
quota in us-east-1 (gruntwork-io/terraform-aws-utilities, docs/quotas.md, 2024-02):
its 68 training instance types, with their real quota codes, all default to 0
on-demand instances (new accounts report the same: "new accounts start at 0"), and to
0-4 spot instances. Types added to SageMaker since have no published code or default:
the simulator gives them 0 and a code derived from the quota's name.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jobctl_tools.local.json_api import service_model

SERVICE_CODE = "sagemaker"
SERVICE_NAME = "Amazon SageMaker"


@dataclass(frozen=True)
class Quota:
    code: str
    name: str
    default: float
    adjustable: bool = True
    global_quota: bool = False


def training_quota_name(instance_type: str, spot: bool = False) -> str:
    usage = "spot training job usage" if spot else "training job usage"
    return f"{instance_type} for {usage}"


# instance type, on-demand quota code, spot quota code, spot default (on-demand: 0)
_PUBLISHED_TRAINING_QUOTAS = """
ml.c4.xlarge       L-85D4BAF3 L-9BA5373F 4
ml.c4.2xlarge      L-C5B4EE09 L-978CD7EC 4
ml.c4.4xlarge      L-505634D0 L-C087612A 0
ml.c4.8xlarge      L-6BE85179 L-C5B2C408 0
ml.c5.xlarge       L-E2BB44FE L-6FA0D387 4
ml.c5.2xlarge      L-49679826 L-4581C083 4
ml.c5.4xlarge      L-E7898792 L-36C5FA8E 1
ml.c5.9xlarge      L-2BE095E2 L-A2512F8F 0
ml.c5.18xlarge     L-81482A8C L-239B242B 0
ml.c5n.xlarge      L-04CD765C L-DD508305 0
ml.c5n.2xlarge     L-D04B88E2 L-C1E6B202 0
ml.c5n.4xlarge     L-E215EF33 L-37059D02 0
ml.c5n.9xlarge     L-D0327E29 L-D144443B 0
ml.c5n.18xlarge    L-A1E21094 L-266C4F52 0
ml.c6i.xlarge      L-D526E050 L-6074B0D4 0
ml.c6i.2xlarge     L-536D2DD2 L-8BB74069 0
ml.c6i.4xlarge     L-4A20E33E L-017831D5 0
ml.c6i.8xlarge     L-845DE61C L-6DA79B36 0
ml.c6i.12xlarge    L-81AF96F3 L-DD42D93D 0
ml.c6i.16xlarge    L-090C5671 L-0C0D9F82 0
ml.c6i.24xlarge    L-DE22CE7F L-1B7024B2 0
ml.c6i.32xlarge    L-D8FA228C L-B9D177E1 0
ml.g4dn.xlarge     L-3F53BF0F L-944F78BB 0
ml.g4dn.2xlarge    L-C2495BC4 L-0496610F 0
ml.g4dn.4xlarge    L-2908B1E9 L-246C5638 0
ml.g4dn.8xlarge    L-3118B7E1 L-15F329FB 0
ml.g4dn.12xlarge   L-7BD2C9FA L-199558F0 0
ml.g4dn.16xlarge   L-57998C77 L-AD4C1352 0
ml.g5.xlarge       L-B6D80D9C L-DE07CBDF 0
ml.g5.2xlarge      L-2D6DEB3C L-CAEE7DB7 0
ml.g5.4xlarge      L-FE869B40 L-DB4D51CF 0
ml.g5.8xlarge      L-43F5FC95 L-DD18D5D6 0
ml.g5.12xlarge     L-C6383286 L-03E19172 0
ml.g5.16xlarge     L-9FAC65F7 L-E3DCB664 0
ml.g5.24xlarge     L-ED7BD217 L-8345B953 0
ml.g5.48xlarge     L-6BC98A55 L-C87FF004 0
ml.m4.xlarge       L-A373146E L-2ECAA15F 4
ml.m4.2xlarge      L-D589112D L-FE159C34 4
ml.m4.4xlarge      L-E60A61DF L-D7D166A0 2
ml.m4.10xlarge     L-D35E48B2 L-C17B05C4 0
ml.m4.16xlarge     L-D7CE983F L-A50827DD 0
ml.m5.large        L-611FA074 L-29688C85 4
ml.m5.xlarge       L-CCE2AFA6 L-4CEE6BA6 4
ml.m5.2xlarge      L-AD0A282D L-4A823FAB 4
ml.m5.4xlarge      L-AFB011B4 L-2A6ACFF7 2
ml.m5.12xlarge     L-6F6C8949 L-29B03627 0
ml.m5.24xlarge     L-56C564CA L-D0EA3DC8 0
ml.m6i.large       L-514B50A3 L-7E503C5F 0
ml.m6i.xlarge      L-3A218EBD L-3597CD5B 0
ml.m6i.2xlarge     L-AE3447AD L-39DC8B41 0
ml.m6i.4xlarge     L-AE93C70E L-59C3957D 0
ml.m6i.8xlarge     L-964887D9 L-7B628106 0
ml.m6i.12xlarge    L-8716E6AE L-EF089D40 0
ml.m6i.16xlarge    L-7412F8CF L-614CBE09 0
ml.m6i.24xlarge    L-9778E614 L-24B0ADC0 0
ml.m6i.32xlarge    L-6F01766F L-843BE5AB 0
ml.p2.xlarge       L-5585E645 L-21545BA5 0
ml.p2.8xlarge      L-33BA8B57 L-ACF1D2B2 0
ml.p2.16xlarge     L-7FC32A75 L-2E99C6D1 0
ml.p3.2xlarge      L-D438008E L-2D4C6493 0
ml.p3.8xlarge      L-558F1246 L-0201B959 0
ml.p3.16xlarge     L-A99E0304 L-D58A90BB 0
ml.p3dn.24xlarge   L-8DCA2E97 L-477D3300 0
ml.p4d.24xlarge    L-09B4A649 L-09D56C4F 0
ml.p5.48xlarge     L-82E1C851 L-82733FAD 0
ml.trn1.2xlarge    L-74F2FC79 L-AA22B8B9 0
ml.trn1.32xlarge   L-79A1FE57 L-F594DE31 0
ml.trn1n.32xlarge  L-BFB9CF17 L-068DB6B3 0
"""

# Other SageMaker quotas, from the same dump: names a reader must not mistake for the
# training ones. Listed, not enforced (AutoML jobs too: the simulator limits no AutoML job).
_OTHER_QUOTAS = (
    Quota("L-00C91CB5", "Number of instances across all training jobs", 4),
    Quota("L-93958082", "Number of instances across all spot training jobs", 4),
    Quota("L-622CFD70", "Maximum number of instances per training job", 20),
    Quota("L-DB62C864", "Maximum number of instances per spot training job", 20),
    Quota("L-CFC2D5B6", "Maximum number of concurrent AutoML Jobs", 1),
    Quota("L-F311B08F", "Number of instances across all processing jobs", 4),
    Quota("L-60D2A6F0", "Number of instances across all transform jobs", 4),
    Quota("L-7A3DF611", "Number of instances across active endpoints", 4),
    Quota("L-04CE2E67", "Total number of notebook instances", 8),
    Quota("L-2F737F8D", "ml.m5.xlarge for endpoint usage", 0),
    Quota("L-0307F515", "ml.m5.xlarge for processing job usage", 0),
    Quota("L-7939E4EC", "ml.m5.xlarge for transform job usage", 0),
    Quota("L-0BEF44E8", "ml.m5.xlarge for training warm pool usage", 0),
    Quota("L-76AB2C05", "ml.m5.xlarge for notebook instance usage", 1),
    Quota("L-09F79647", "ml.p4d.24xlarge for endpoint usage", 0),
    Quota("L-A8827666", "ml.p4d.24xlarge for training warm pool usage", 0),
    Quota("L-47E0BC8F", "ml.p4d.24xlarge for cluster usage", 0),
)

# The simulated account's training quotas unless a scenario grants others: AWS's default
# for every on-demand type is 0, so a new account can train nothing. The account has
# been granted ml.m5.xlarge, which every sample request uses: 30, the applied value
# public workshops report for their reference accounts (us-west-2). Scenarios that run
# more at once (the benchmarks, the soak) grant more, as their accounts would have.
ACCOUNT_TRAINING_QUOTAS: Mapping[str, int] = {"ml.m5.xlarge": 30}


def _derived_code(name: str) -> str:
    """A stable code for a quota the dump does not name (real codes are opaque too)."""
    return "L-" + hashlib.sha256(name.encode()).hexdigest()[:8].upper()


def _training_quotas() -> Iterator[Quota]:
    published = {
        instance_type: (code, spot_code, float(spot_default))
        for instance_type, code, spot_code, spot_default in (
            line.split() for line in _PUBLISHED_TRAINING_QUOTAS.strip().splitlines()
        )
    }
    instance_types = service_model("sagemaker").shape_for("TrainingInstanceType").metadata["enum"]
    for instance_type in instance_types:
        name, spot_name = (
            training_quota_name(instance_type),
            training_quota_name(instance_type, True),
        )
        code, spot_code, spot_default = published.get(
            instance_type, (_derived_code(name), _derived_code(spot_name), 0.0)
        )
        yield Quota(code, name, 0.0)
        yield Quota(spot_code, spot_name, spot_default)


QUOTAS: tuple[Quota, ...] = (*_training_quotas(), *_OTHER_QUOTAS)
BY_NAME: dict[str, Quota] = {quota.name: quota for quota in QUOTAS}


class AccountQuotas:
    """The account's applied value of each quota: AWS's default unless it was granted
    another (``grant``)."""

    def __init__(self, training: Mapping[str, int], spot_training: Mapping[str, int]) -> None:
        self._granted: dict[str, float] = {}
        for spot, granted in ((False, training), (True, spot_training)):
            for instance_type, instances in granted.items():
                self.grant(training_quota_name(instance_type, spot), instances)

    def grant(self, name: str, value: float) -> None:
        if name not in BY_NAME:
            raise KeyError(f"SageMaker has no quota named {name!r}")
        if value < 0:
            raise ValueError(f"a quota cannot be negative: {name!r} = {value}")
        self._granted[name] = float(value)

    def value(self, name: str) -> float:
        return self._granted.get(name, BY_NAME[name].default)

    def applied(self) -> list[tuple[Quota, float]]:
        """The quotas whose applied value is not AWS's default, with that value."""
        granted = dict(self._granted)  # a copy: another thread may grant meanwhile
        quotas = ((BY_NAME[name], value) for name, value in granted.items())
        return [(quota, value) for quota, value in quotas if value != quota.default]


def training_instances(request: dict[str, Any]) -> Counter[str]:
    """The instances a CreateTrainingJob request asks for, by instance type: its
    ResourceConfig's, and each of its instance groups'."""
    config = request.get("ResourceConfig") or {}
    instances: Counter[str] = Counter()
    if config.get("InstanceType"):
        instances[config["InstanceType"]] += config.get("InstanceCount", 1)
    for group in config.get("InstanceGroups") or []:
        instances[group["InstanceType"]] += group["InstanceCount"]
    return instances


def limit_exceeded(name: str, limit: float, used: int, delta: int) -> str:
    """SageMaker's ResourceLimitExceeded message for an account-level quota."""
    return (
        f"The account-level service limit '{name}' is {limit:g} Instances, with current "
        f"utilization of {used} Instances and a request delta of {delta} Instances. Please "
        "use AWS Service Quotas to request an increase for this quota. If AWS Service "
        "Quotas is not available, contact AWS support to request an increase for this quota."
    )
