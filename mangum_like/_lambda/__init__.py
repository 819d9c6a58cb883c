"""What AWS Lambda itself defines, written once for the runtime loop and the CLI alike.

The context object (``context``), the error document and the ``Runtime.*`` error types
(``errors``), JSON marshalling and the payload quotas (``payload``), the handler setting
(``handler``), the Runtime and Extensions API client (``rapi``), log lines (``logs``) and the
framing of streamed responses (``stream``). ``import mangum_like`` loads ``payload`` for its
quotas: this package imports nothing itself, and ``payload`` loads ``json`` only when it
marshals.
"""
