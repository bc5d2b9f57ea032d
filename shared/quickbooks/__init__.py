"""The QuickBooks Online client: OAuth tokens, requestid, retries with backoff, per-company pacing, Faults."""

from shared.quickbooks.client import QuickBooksClient, RetryPolicy, TokenSource, quote, request_id_for
from shared.quickbooks.errors import DuplicateName, InvalidReference, ObjectNotFound, StaleObject

__all__ = [
    "DuplicateName",
    "InvalidReference",
    "ObjectNotFound",
    "QuickBooksClient",
    "RetryPolicy",
    "StaleObject",
    "TokenSource",
    "quote",
    "request_id_for",
]
