"""The Books360 UI's API: connection, settings, lists, customers, vendors, invoices and jobs."""

from __future__ import annotations

import connection_routes
import invoices_routes
import jobs_routes
import lists_routes
import parties_routes
import settings_routes

from shared.web import http_app, http_handler

app = http_app(
    connection_routes.router,
    settings_routes.router,
    lists_routes.router,
    jobs_routes.router,
    invoices_routes.router,
    parties_routes.router,
)
lambda_handler = http_handler(app)
