"""The Data Protection Officer's side: the dashboard (queue, request page,
figures, register), its two-factor login, and the REST API for DPO tools,
the requester's status and the crawler's suppression check."""
