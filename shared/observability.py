"""The one Logger, Metrics and Tracer of every function (Powertools); the template's environment names them."""

from __future__ import annotations

import os
import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# A namespace even where the environment gives none (tests, scripts), so flushing metrics never fails.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Books360QuickBooks"))
tracer = Tracer()
# Most invocations record no metric; Powertools would warn about that on every one of them.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
