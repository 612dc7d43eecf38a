"""The Data Protection Officer's dashboard: the queue, a request's page
with the actions it offers, figures, the register, API keys, and the
two-factor login. Its ``ApiKey`` model serves the REST API (``subjects.api``)."""
