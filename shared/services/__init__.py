"""Use cases, written against the domain, the store and the QuickBooks client; called by thin handlers."""
