"""The one Logger, Metrics and Tracer of every function (Powertools), configured from the environment."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()
