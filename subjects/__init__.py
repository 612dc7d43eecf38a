"""Data subjects and their rights requests.

The package is built in floors; a module imports only from its own floor
(without a circle) or from floors below it, never from above, and
``tests/test_layers.py`` keeps it so:

1. ``models`` and ``core/``: the request core. The models, the state
   machine and :func:`~subjects.core.transitions.transition`, deadlines, the
   audit trail and its catalogue of events, link tokens, the outbox and the
   queueing of tasks by name, the person's faces and matches, closing.
2. ``person/`` and ``review/``: the person's steps (start, selfie, camera
   check, filing, withdrawal, abuse limits) and the DPO's decisions.
3. ``jobs/``: what the workers do to carry requests out (selfie search,
   access package, erasure, e-mail delivery, retention, deadline alerts).
4. ``tasks``, ``web/``, ``dpo/``, ``api/``, ``management/``: the Celery
   tasks, the citizen's pages, the DPO's dashboard, the REST API and the
   commands. Thin: they call the plain functions below them.

A lower floor that must start work above it queues a Celery task by name
(``subjects.core.queueing``) instead of importing it.
"""
