"""The one Logger, Metrics and Tracer of every function (Powertools); the template's environment names them."""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
# A namespace even where the environment gives none (tests, scripts), so flushing metrics never fails.
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "Books360QuickBooks"))
tracer = Tracer()
