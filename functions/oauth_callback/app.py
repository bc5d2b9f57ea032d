"""Public OAuth redirect target: Intuit sends the admin's browser back here (state-checked)."""

from __future__ import annotations

from shared.web import http_app, http_handler

app = http_app()
lambda_handler = http_handler(app)
