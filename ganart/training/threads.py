"""``--threads auto``: train with the CPU thread count that is fastest right now.

A training step is thousands of small ops, and each op's threads meet at a barrier. When another
program keeps one core busy (the app, a browser, a second run), a thread that loses its core
holds all the others at every barrier: on a 2-core EPYC beside one busy thread, 2 threads
trained 10.3 img/s and 1 thread 21.8 (`python benchmarks/train_speed.py --threads 2,1 --beside 1`;
alone, 2 threads ran 31.9). So the trainer now and then runs a short probe at the next rung of
a halving ladder (most, most/2, ..., 1) and keeps whichever count trained more images per
second. A probe that loses doubles the wait before the next one, up to ``MAX_GAP_S`` or
``PROBE_SHARE`` times the probe's own length, so a quiet machine spends about 1 % of its time or
less at the slower count.

Thread counts change a step's floating-point sums in the last bits, so a run that must repeat
bit for bit (or resume exactly) gives a number instead.
"""

from __future__ import annotations

import math
from collections import deque

FIRST_GAP_S = 60.0  # seconds of steps before the first probe, and after a change
MAX_GAP_S = 480.0
MARGIN = 1.05  # a probe must be this much faster to take over: rates wobble by a few per cent
PROBE_SHARE = 100  # the wait after a losing probe grows to at least this many times the probe
MIN_WINDOW = 16  # steps per measurement, at least


def ladder(most: int) -> list[int]:
    """Thread counts to try, most first: most, most // 2, ..., 1."""
    counts = [max(most, 1)]
    while counts[-1] > 1:
        counts.append(counts[-1] // 2)
    return counts


class ThreadTuner:
    """Fed each step's seconds (``step``), says when to set another thread count (it returns the
    count, else None); ``news`` tells of a change that stays. A measurement is a whole number of
    lazy-R1 intervals (``r1_interval``), so each window holds as many of the dearer R1 steps. The
    first step after a change is not timed (the thread pool wakes); ``discard`` drops the window
    under way after a step that was not a plain one (a rollback, a snapshot, an evaluation)."""

    def __init__(self, most: int, r1_interval: int, first_gap: float = FIRST_GAP_S,
                 min_window: int = MIN_WINDOW) -> None:
        self.rungs = ladder(most)
        self.current = self.rungs[0]
        r1_interval = max(r1_interval, 1)
        self.window = r1_interval * math.ceil(max(min_window, 1) / r1_interval)
        self.recent: deque[float] = deque(maxlen=self.window)  # the current count's latest steps
        self.first_gap = self.gap = first_gap
        self.since_probe = 0.0
        self.probing: int | None = None  # the count on trial
        self.trial: list[float] = []
        self.skip = 0
        self.down = True  # which neighbour the next probe tries, when both exist
        self.news = ""  # set when the kept count changes, for the log

    @property
    def enabled(self) -> bool:
        return len(self.rungs) > 1

    def _neighbour(self) -> int:
        i = self.rungs.index(self.current)
        lower = self.rungs[i + 1] if i + 1 < len(self.rungs) else None
        higher = self.rungs[i - 1] if i > 0 else None
        pick = lower if (self.down and lower is not None) or higher is None else higher
        self.down = not self.down
        return pick

    def discard(self) -> None:
        """Forget the window under way: its next step starts a fresh one."""
        self.recent.clear()
        self.trial.clear()

    def step(self, seconds: float, images: int) -> int | None:
        if not self.enabled:
            return None
        if self.skip:
            self.skip -= 1
            return None
        if self.probing is None:
            self.recent.append(seconds)
            self.since_probe += seconds
            if self.since_probe < self.gap or len(self.recent) < self.window:
                return None
            self.probing, self.trial, self.skip = self._neighbour(), [], 1
            return self.probing
        self.trial.append(seconds)
        if len(self.trial) < self.window:
            return None
        old = images * len(self.recent) / sum(self.recent)
        new = images * len(self.trial) / sum(self.trial)
        tried, self.probing, self.since_probe, self.skip = self.probing, None, 0.0, 1
        if new > old * MARGIN:  # the probe's count stays (it is already set)
            self.news = (f"--threads auto: {tried} thread{'s' * (tried != 1)} now ({new:.1f} img/s against {old:.1f} with "
                         f"{self.current}{': something else is using the CPU' if tried < self.current else ''})")
            self.down = tried < self.current  # go on the same way: the count just left lost
            self.current, self.gap = tried, self.first_gap
            self.recent = deque(self.trial, maxlen=self.window)
            return None
        self.gap = min(self.gap * 2, max(MAX_GAP_S, PROBE_SHARE * sum(self.trial)))
        self.recent.clear()  # measured afresh before the next probe
        return self.current
