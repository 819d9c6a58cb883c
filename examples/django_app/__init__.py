"""A small Django project on Lambda (ASGI, no lifespan): a cookie, a JSON body."""
