"""The REST API (``/api/v1``): DPO tools, the requester's status and the
crawler's suppression check."""
