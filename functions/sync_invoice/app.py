"""Sync one invoice with QuickBooks now ("Sync with QB" on the Invoices tab)."""

from __future__ import annotations

from shared.web import http_app, http_handler

app = http_app()
lambda_handler = http_handler(app)
