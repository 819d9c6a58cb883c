"""A small Litestar app on Lambda: a lifespan, a cookie, a JSON body."""
