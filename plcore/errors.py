"""Exceptions raised by plcore, and how their messages show the values they quote.

The two about input derive from :class:`ValueError`, so callers that only care about "bad input"
can catch that; :class:`SweepError` is a sweep that cannot go on (its cache cannot be written, its
Dask scheduler does not answer). Every message names the offending entry (for example ``users[3].deadline_s``), so that a
reader of a 200-user file knows exactly which line to fix. Values quoted in a message go through
:func:`short_repr`, so that a 1 MB string or a 10,000-digit number in a file never turns into a
1 MB message.
"""

#: Longest quotation of a value in a message (characters).
MAX_SHOWN = 60


class InstanceError(ValueError):
    """An instance (dict or JSON file) is malformed; the message names the offending entry."""


class ScheduleError(ValueError):
    """A schedule is malformed: a repeated, unknown or non-integer user index."""


class SweepError(RuntimeError):
    """A sweep cannot go on: its cache folder cannot be written (a full disk, a file-size limit) or
    its Dask scheduler is unreachable, has no workers or died.

    The message is one line naming the cache folder or the scheduler's address, and saying that the
    points finished so far are kept (a re-run computes only the others).
    """


def short_repr(value, limit: int = MAX_SHOWN) -> str:
    """``repr(value)``, cut to about ``limit`` characters, saying how long the whole was.

    Containers are abbreviated as they are written (:mod:`reprlib`), so a list of a million
    entries is never turned into text whole.

    Examples
    --------
    >>> short_repr("abc")
    "'abc'"
    >>> short_repr("x" * 1000, limit=20)
    "'xxxxxxxxxxxxxxx...' (a string of 1000 characters)"
    >>> short_repr(list(range(10 ** 6)))
    '[0, 1, 2, 3, 4, 5, ...] (a list of 1000000 items)'
    >>> short_repr(10 ** 5000)
    'an integer of 5001 digits'
    """
    import reprlib

    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 3 * limit:
        # str() of a huge int is slow, and refused beyond 4,300 digits: give its size instead.
        return f"an integer of {_digits(abs(value))} digits"
    if isinstance(value, str) and len(value) > limit:
        cut = repr(value[:limit - 5])          # repr: a newline in the value stays "\\n"
        return f"{cut[:-1]}...{cut[-1]} (a string of {len(value)} characters)"
    short = reprlib.Repr()
    short.maxlevel, short.maxstring, short.maxother = 2, limit // 2, limit // 2
    try:
        text = short.repr(value)
    except Exception:                    # a broken repr must not hide the error being reported
        return f"<{type(value).__name__}>"
    size = ""
    if isinstance(value, (list, tuple, dict, set, frozenset)) and "..." in text:
        size = f" (a {type(value).__name__} of {len(value)} items)"
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return text + size


def _digits(n: int) -> int:
    """Number of decimal digits of ``n >= 0``, without converting it to text."""
    d = int((n.bit_length() - 1) * 0.30102999566398120) + 1    # the digits of 2**(bits - 1)
    return d + (n >= 10 ** d)
