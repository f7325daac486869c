"""Time limits and progress for the solvers: a clock they consult between steps.

A solve runs under a :class:`Clock` (set up by :func:`plcore.solve`), which the solvers reach
through :func:`current_clock`, so that their signatures and their direct callers stay as they are.
A solver

* calls :meth:`Clock.offer` with every *feasible* schedule it gets hold of (the clock keeps the
  longest one: the best found so far);
* calls :meth:`Clock.check` between steps of its expensive phase; at the time limit this raises
  :class:`TimeUp`, which :func:`plcore.solve` catches to return the best schedule offered;
* may name its phase with :meth:`Clock.note`, for the progress display.

Outside :func:`plcore.solve` the current clock is a passive one: no limit, no display, and
``check`` returns at once (one attribute test), so a solver called directly behaves exactly as
before and costs the same.

Inside :func:`recording`, a solve's clock keeps the best schedule offered even without a limit,
and stays reachable after the solve has ended by an exception: a caller interrupted by Ctrl-C
(``KeyboardInterrupt``) can still return the best feasible schedule found so far, as a time limit
does. The command line does so.

Progress is drawn on stderr only when stderr is a terminal (never into a file, a pipe, a test's
captured output or a notebook), and only once a solve has run for :data:`PROGRESS_DELAY_S`, so
quick solves print nothing. tqdm draws it when it is installed (it is not a core dependency, so it
is imported only then); otherwise one plain line is rewritten in place.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
import shutil
import sys
import time

from ..errors import short_repr

__all__ = ["Clock", "TimeUp", "TimeLimitWarning", "current_clock", "check_time_limit",
           "recording", "Recording", "import_optimize"]

PROGRESS_DELAY_S = 1.0   # a solve shorter than this never shows progress
PROGRESS_EVERY_S = 0.2   # redraw at most this often (a draw costs far more than a check)
# Predicted seconds of the first ``import scipy.optimize`` (0.3-0.45 s measured on the 2-core CI
# machine): a step the limit cannot interrupt.
IMPORT_OPTIMIZE_S = 0.5


class TimeLimitWarning(UserWarning):
    """:func:`plcore.solve` reached its time limit: the schedule is the best feasible one found so
    far, not the method's full answer (for ``"exact"``: not proven optimal)."""


class TimeUp(Exception):
    """Raised by :meth:`Clock.check` at the time limit; :func:`plcore.solve` catches it."""


def check_time_limit(time_limit_s) -> float | None:
    """Validate a time limit: None (no limit) or a number of seconds >= 0 (``inf``: no limit).

    Returns
    -------
    float or None
        The limit in seconds; None for no limit.

    Raises
    ------
    ValueError
        For a negative number, NaN, a bool or a non-number, naming the value.
    """
    if time_limit_s is None:
        return None
    if isinstance(time_limit_s, bool) or not isinstance(time_limit_s, numbers.Real):
        raise ValueError(f"time limit: must be a number of seconds or None, got "
                         f"{short_repr(time_limit_s)}")
    value = float(time_limit_s)
    if math.isnan(value) or value < 0:
        raise ValueError(f"time limit: must be >= 0 seconds, got {short_repr(time_limit_s)}")
    return None if math.isinf(value) else value


def _stderr_is_tty() -> bool:
    try:
        return bool(sys.stderr is not None and sys.stderr.isatty())
    except (AttributeError, ValueError):     # no isatty, or a closed stream
        return False


class Clock:
    """Wall-clock time limit, best schedule so far and progress display of one solve.

    Parameters
    ----------
    time_limit_s : float or None
        Wall-clock seconds from construction; None or ``inf``: no limit.
    progress : bool or None
        Show progress on stderr during long solves when stderr is a terminal (None, the default,
        and True); False: never. Nothing is ever drawn into a file, a pipe or a notebook.
    label : str
        Shown in front of the progress line (e.g. ``"plcore dp"``).

    Raises
    ------
    ValueError
        For a bad ``time_limit_s`` (see :func:`check_time_limit`).

    Notes
    -----
    The limit is checked only where a solver calls :meth:`check`, so a solve overruns it by at
    most one step between two checks. The solvers put checks between steps that take milliseconds
    on the instances they are meant for, and pass a predicted cost for the few steps that can take
    seconds on huge ones (see ``cost_s``). The near-linear first schedule of each heuristic is
    never interrupted: it is what a stopped solve returns.
    """

    def __init__(self, time_limit_s=None, progress: bool | None = None, label: str = "plcore"):
        self.limit_s = check_time_limit(time_limit_s)
        self.label = label
        self.start = time.perf_counter()
        self.deadline = None if self.limit_s is None else self.start + self.limit_s
        self.best: list[int] = []
        self.phase = ""
        self.stopped: str | None = None
        self._show = progress is not False and _stderr_is_tty()
        # A passive clock (no limit, nothing to draw) makes check() a single attribute test.
        self.active = self.deadline is not None or self._show
        self._recording = _recording.get()
        # What a stopped or interrupted solve returns: kept only where someone can ask for it.
        self._keep = self.active or self._recording is not None
        self._next_draw = self.start + PROGRESS_DELAY_S
        self._bar = None
        self._token = None

    @property
    def limited(self) -> bool:
        """Whether a time limit is set (solvers then prepare a quick first schedule)."""
        return self.deadline is not None

    def elapsed_s(self) -> float:
        """Wall-clock seconds since the clock started."""
        return time.perf_counter() - self.start

    def check(self, cost_s: float = 0.0) -> None:
        """Raise :class:`TimeUp` if the time limit is reached; redraw the progress line if due.

        Parameters
        ----------
        cost_s : float
            Predicted duration (s) of the step about to start: the limit counts as reached if that
            step would end past it. Used before steps that cannot be interrupted and may take
            seconds (an assignment problem on thousands of users).
        """
        if not self.active:
            return
        now = time.perf_counter()
        if self.deadline is not None and now + cost_s >= self.deadline:
            self.stopped = "time limit"
            raise TimeUp
        if self._show and now >= self._next_draw:
            self._draw(now)

    def offer(self, seq) -> None:
        """Keep ``seq`` if it serves more users than the best so far.

        ``seq`` must be feasible under the loader the method assumes: it is what a stopped solve
        returns. A passive clock keeps nothing (nothing can stop it), unless inside
        :func:`recording`.
        """
        if self._keep and len(seq) > len(self.best):
            self.best = [int(k) for k in seq]

    def note(self, phase: str) -> None:
        """Name the solver's current phase (shown in the progress line)."""
        if self.active:
            self.phase = phase

    # ---------------------------------------------------------------- progress display
    def _text(self, now: float) -> str:
        t = now - self.start
        when = f"{t:.0f} s" + (f" of {self.limit_s:g} s" if self.limit_s is not None else "")
        what = f", {self.phase}" if self.phase else ""
        return f"{when}{what}, best so far {len(self.best):,} users"

    def _draw(self, now: float) -> None:
        self._next_draw = now + PROGRESS_EVERY_S
        text = self._text(now)
        if self._bar is None:
            self._bar = _make_bar(self.label, self.limit_s)
        limit = math.inf if self.limit_s is None else self.limit_s
        self._bar.show(min(now - self.start, limit), text)

    def close(self) -> None:
        """Erase the progress line, if one was drawn."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "Clock":
        if self._recording is not None and _current.get() is None:   # the outermost solve
            self._recording.clock = self
        self._token = _current.set(self)
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            self.stopped = "interrupted"
        _current.reset(self._token)
        self.close()


class _TqdmBar:
    """A tqdm bar over the time limit (a plain line without one); the text is its description."""

    def __init__(self, label: str, limit_s: float | None):
        from tqdm import tqdm    # not a core dependency: imported only to draw

        self.label = label
        self.limit_s = limit_s
        self.tqdm = tqdm
        self.bar = None

    def show(self, n: float, text: str) -> None:
        desc = f"{self.label}: {text}"
        if self.bar is None:    # created with its first text, so it never draws an empty bar
            fmt = "{desc} {percentage:3.0f}%|{bar}|" if self.limit_s is not None else "{desc}"
            self.bar = self.tqdm(total=self.limit_s, initial=n, desc=desc, bar_format=fmt,
                                 file=sys.stderr, leave=False, dynamic_ncols=True,
                                 mininterval=0.0)
            return
        if self.bar.total is not None:
            self.bar.n = n
        self.bar.set_description_str(desc, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _PlainBar:
    """One line rewritten in place, for installs without tqdm."""

    def __init__(self, label: str, limit_s: float | None):
        self.label = label
        self.width = 0

    def show(self, n: float, text: str) -> None:
        # Longer than the terminal, the line would wrap and "\r" could not overwrite it.
        line = f"{self.label}: {text}"[:shutil.get_terminal_size().columns - 1]
        sys.stderr.write("\r" + line.ljust(self.width))
        sys.stderr.flush()
        self.width = max(self.width, len(line))

    def close(self) -> None:
        sys.stderr.write("\r" + " " * self.width + "\r")
        sys.stderr.flush()


def _make_bar(label: str, limit_s: float | None):
    try:
        return _TqdmBar(label, limit_s)
    except ImportError:
        return _PlainBar(label, limit_s)


class Recording:
    """What :func:`recording` yields: ``clock``, the clock of the solve started inside it (its
    ``best`` and ``stopped``), or None while no solve has started."""

    def __init__(self):
        self.clock: Clock | None = None


@contextlib.contextmanager
def recording():
    """Keep the best schedule of a solve started inside, even one that ends by an exception.

    Yields
    ------
    Recording
        Its ``clock`` is the clock of the (outermost) solve started inside the block, None before
        one starts. ``clock.best`` is the longest feasible schedule offered so far (possibly
        empty), ``clock.stopped`` is ``"interrupted"`` after a ``KeyboardInterrupt`` (Ctrl-C).

    Examples
    --------
    >>> import plcore
    >>> from plcore.schedulers.limits import recording
    >>> inst = plcore.Instance.from_dict({
    ...     "blocks": {"b": {"bytes": 4e7, "load_s": 0.004}},
    ...     "models": {"m": {"blocks": ["b"], "infer_s": 0.002}},
    ...     "users": [{"model": "m", "data_bits": 1e6, "deadline_s": 0.05, "power_w": 0.2,
    ...                "channel_gain": 1e-10}],
    ...     "noise_psd_w_hz": 4e-21, "bandwidth_hz": 2e7})
    >>> with recording() as rec:
    ...     seq = plcore.solve(inst, method="greedy")
    >>> seq, rec.clock.best, rec.clock.stopped
    ([0], [0], None)

    Notes
    -----
    Without a time limit a solve's clock otherwise keeps nothing: here each schedule offered that
    is longer than the best is copied, as under a time limit (O(its length), a few times a solve).
    """
    rec = Recording()
    token = _recording.set(rec)
    try:
        yield rec
    finally:
        _recording.reset(token)


_recording: contextvars.ContextVar[Recording | None] = contextvars.ContextVar(
    "plcore_recording", default=None)


def import_optimize():
    """``scipy.optimize``, imported under the current solve's time limit.

    Its first import takes a good part of a second, which no check can interrupt: under a limit
    it is not started when it would end past the limit (:data:`IMPORT_OPTIMIZE_S` predicted),
    and :class:`TimeUp` is raised instead. Imported only when needed (``import plcore`` should
    not pay it).

    Returns
    -------
    module
        ``scipy.optimize``.

    Raises
    ------
    TimeUp
        Under a time limit that the import would pass.
    """
    if "scipy.optimize" not in sys.modules:
        current_clock().check(cost_s=IMPORT_OPTIMIZE_S)
    import scipy.optimize

    return scipy.optimize


_PASSIVE = Clock(progress=False)
_current: contextvars.ContextVar[Clock | None] = contextvars.ContextVar("plcore_clock",
                                                                        default=None)


def current_clock() -> Clock:
    """The clock of the solve in progress, or a passive one (no limit, no display)."""
    clock = _current.get()
    return _PASSIVE if clock is None else clock
