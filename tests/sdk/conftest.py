"""The producer tests run with the real SageMaker Python SDK, in its own virtualenv
(``make sdk-test``); the main suite leaves this directory out."""

from __future__ import annotations

import os
from pathlib import Path

os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] = str(
    Path(__file__).with_name("sagemaker-config.yaml")
)
os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
