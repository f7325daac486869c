"""Edits of instance and profile dicts, shared by the tests that feed them bad entries."""

DELETE = object()   # as a value: remove the entry instead of setting it


def set_at(obj, path, value) -> None:
    """Set the entry at ``path`` (a tuple of keys and indices) of the nested ``obj`` to ``value``,
    in place, or remove it if ``value`` is :data:`DELETE`."""
    for key in path[:-1]:
        obj = obj[key]
    if value is DELETE:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value


def to_linear_rate(d: dict) -> dict:
    """The instance dict ``d`` switched, in place, to the linear rate: every user with a spectral
    efficiency of 4 b/s/Hz and no radio fields, no noise density. Returns ``d``."""
    d["rate"] = "linear"
    del d["noise_psd_w_hz"]
    for u in d["users"]:
        del u["power_w"], u["channel_gain"]
        u["spectral_eff"] = 4.0
    return d
