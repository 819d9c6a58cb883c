"""A Mangum-compatible custom handler for an event format of one's own (see app.py)."""
