"""A FastAPI app that serves an Amazon Bedrock agent's action group (see app.py)."""
