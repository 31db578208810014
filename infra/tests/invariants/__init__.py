"""The invariants of the deployment templates, run by ../test_invariants.py: model.py (a template
as one model whatever its flavour), spec.py (the contract, as data), checks.py, checks_edge.py,
checks_async.py, checks_auth.py, checks_site.py, checks_media.py, checks_listening.py and checks_webhooks.py (the named checks), parity.py (SAM == CDK, build
once deploy many), mutations.py, mutations_async.py, mutations_auth.py, mutations_site.py, mutations_media.py,
mutations_listening.py and mutations_webhooks.py (self-tests, with the operations of ops.py)."""

from . import checks, checks_async, checks_auth, checks_edge, checks_events, checks_listening, checks_media, checks_site, checks_webhooks  # noqa: F401  (each registers its checks in checks.CHECKS)
