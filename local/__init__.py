"""The local stack: moto, the QuickBooks emulator and a front that runs the template's functions as Lambda would.

``python -m local`` (``make up``) starts it; everything it routes, polls and schedules is read from ``template.yaml``.
"""
