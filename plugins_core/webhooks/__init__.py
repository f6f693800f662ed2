"""Webhooks-as-code delivery: a plugin's ``webhooks/*.yaml`` files, sent when their events happen.

* ``specs`` — a version's webhook files, as stored at upload, and which events they are ``on``;
* ``fanout`` — a delivery row per matching webhook when an event is dispatched;
* ``render`` — ``${SECRET:NAME}`` / ``${TENANT_ID}`` in URL, headers and signing secret;
* ``payload`` — the body: the event's data, or what the sandboxed transform made of it;
* ``delivery`` — leases, one attempt (sign, send through the SSRF-safe client), retries;
* ``tasks`` — the Celery task per attempt and the beat sweep for due retries;
* ``api`` — the delivery log and redelivery.
"""
