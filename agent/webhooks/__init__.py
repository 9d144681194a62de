"""Webhooks: call events POSTed as signed JSON to the configured URLs.

signing.py (the scheme, shared by sender and receiver), events.py (the payloads, queued in the
durable outbox table), delivery.py (at-least-once delivery with retries and backoff, run by
the worker's main process), receiver.py (an example receiver that verifies signatures).
"""
