"""Exceptions raised by plcore.

Both derive from :class:`ValueError`, so callers that only care about "bad input" can catch that.
Every message names the offending entry (for example ``users[3].deadline_s``), so that a reader of a
200-user file knows exactly which line to fix.
"""


class InstanceError(ValueError):
    """An instance (dict or JSON file) is malformed; the message names the offending entry."""


class ScheduleError(ValueError):
    """A schedule is malformed: a repeated, unknown or non-integer user index."""
