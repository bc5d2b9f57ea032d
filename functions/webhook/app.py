"""Public Intuit webhook receiver (signature-checked over the raw body)."""

from __future__ import annotations

from shared.web import http_app, http_handler

app = http_app()
lambda_handler = http_handler(app)
