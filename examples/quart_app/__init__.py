"""A small Quart app on Lambda: a before-serving hook, a cookie, a JSON body."""
