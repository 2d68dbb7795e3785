"""Send one hostile LM reply to a statement request."""


def attempt(lm, session, reply):
    """Send ``reply`` (twice: the retry gets it too) to a statement request; return the outcome."""
    lm.rules(
        {"match": ["Statement request", "`n = int(w)`"], "content": reply},
        {"match": ["That reply was invalid"], "content": reply},
    )
    s = session()
    s.run("w = 'one'\nn = 0")
    before = dict(s.user_names())
    result = s.run("n = int(w)")
    return s, before, result
