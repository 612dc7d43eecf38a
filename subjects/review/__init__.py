"""The DPO's decisions about a request, and the table of actions the
dashboard and the API offer."""
