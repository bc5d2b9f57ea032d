"""Bulk "Create and sync" requests: a job, then one SQS message an item for the worker."""

from __future__ import annotations

from shared.web import http_app, http_handler

app = http_app()
lambda_handler = http_handler(app)
