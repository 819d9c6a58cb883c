"""A small Starlette app on Lambda: lifespan state, a cookie, a JSON body."""
