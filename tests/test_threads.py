"""--threads auto: the tuner's choices on simulated step times, and its wiring in the trainer."""

from __future__ import annotations

import pytest
import torch

from ganart.training import TrainConfig
from ganart.training.cli import auto_or_number
from ganart.training.config import AUTO_THREADS
from ganart.training.threads import MAX_GAP_S, ThreadTuner, ladder

R1 = 16  # lazy R1 every 16 steps, as the default
BATCH = 8
HOUR = 3600.0


def two_cores(busy: bool):
    """A step's seconds at a thread count on a 2-core machine, at rates like those measured on one
    (benchmarks/train_speed.py --threads 2,1 [--beside 1]); every R1-th step pays R1, 3x."""
    rates = {(2, False): 38.0, (1, False): 24.5, (2, True): 10.3, (1, True): 21.8}

    def seconds(threads: int, step: int) -> float:
        return BATCH / rates[threads, busy] * (3.0 if step % R1 == 0 else 1.0)
    return seconds


def sixteen_cores(others: int):
    """16 cores, ``others`` of them kept busy by other programs: more threads help up to the free
    cores and hurt a lot beyond them (a preempted thread holds every barrier)."""
    def seconds(threads: int, step: int) -> float:
        free = 16 - others
        rate = 10 * min(threads, free) ** 0.7 / (1 if threads <= free else 3 * threads / free)
        return BATCH / rate * (3.0 if step % R1 == 0 else 1.0)
    return seconds


def drive(tuner: ThreadTuner, threads: int, seconds_of, until: float, step: int = 0,
          switch_cost: float = 10.0) -> tuple[int, int, float, float]:
    """Train for ``until`` simulated seconds the way the trainer does -> (threads, step, seconds
    at fewer threads than the most, elapsed). The first step after a change of count costs
    ``switch_cost`` times as much (the pool wakes); the tuner must not count it."""
    elapsed = below = 0.0
    last = threads
    while elapsed < until:
        took = seconds_of(threads, step) * (switch_cost if threads != last else 1.0)
        last = threads
        elapsed += took
        below += took if threads < tuner.rungs[0] else 0.0
        step += 1
        count = tuner.step(took, BATCH)
        threads = count if count is not None else threads
    return threads, step, below, elapsed


def test_the_tuner_keeps_the_faster_count_as_the_load_changes():
    assert ladder(2) == [2, 1] and ladder(16) == [16, 8, 4, 2, 1] and ladder(1) == [1] and ladder(0) == [1]
    assert not ThreadTuner(1, R1).enabled and ThreadTuner(1, R1).step(1.0, BATCH) is None
    assert ThreadTuner(2, 1).window == 16 and ThreadTuner(2, 5).window == 20  # whole R1 intervals
    tuner = ThreadTuner(2, R1)
    # a quiet machine: 2 threads stay, and the probes at 1 thread become rare (the gap doubles)
    threads, step, below, elapsed = drive(tuner, 2, two_cores(busy=False), 4 * HOUR)
    assert threads == 2 and tuner.current == 2 and tuner.gap >= MAX_GAP_S and not tuner.news
    assert 0 < below / elapsed < 0.02  # probes ran, briefly
    # what probing costs in images where it finds nothing (a switch costing one more step)
    probed = drive(ThreadTuner(2, R1), 2, two_cores(busy=False), 4 * HOUR, switch_cost=2.0)[1]
    never = drive(ThreadTuner(2, R1, first_gap=float("inf")), 2, two_cores(busy=False), 4 * HOUR)[1]
    assert 1 - probed / never < 0.01
    # something starts using a core: the next probe moves to 1 thread, and says why
    threads, step, _, _ = drive(tuner, threads, two_cores(busy=True), MAX_GAP_S + 60, step)
    assert threads == 1 and tuner.current == 1
    assert "1 thread now" in tuner.news and "something else is using the CPU" in tuner.news
    tuner.news = ""
    # and when it stops, 2 threads come back at a later probe
    threads, step, _, _ = drive(tuner, threads, two_cores(busy=False), MAX_GAP_S + 60, step)
    assert threads == 2 and tuner.current == 2 and "2 threads now" in tuner.news


def test_the_tuner_walks_a_long_ladder_both_ways():
    tuner = ThreadTuner(16, R1)
    threads, step, _, _ = drive(tuner, 16, sixteen_cores(others=0), HOUR)  # quiet: probes grow rare
    assert threads == 16 and tuner.gap >= MAX_GAP_S
    # 12 cores get busy: the next probe finds 8 faster, and each win probes again soon, down to 4
    threads, step, _, _ = drive(tuner, threads, sixteen_cores(others=12), tuner.gap + 4 * 60, step)
    assert threads == tuner.current == 4
    threads, step, _, _ = drive(tuner, threads, sixteen_cores(others=0), 40 * 60, step)  # all free again
    assert threads == tuner.current == 16


def test_slow_steps_and_equal_counts_do_not_make_the_tuner_flap():
    # 40 s steps: a window (16 steps) outlasts the wait between probes; two equally fast counts
    tuner, changes, threads, elapsed, step = ThreadTuner(2, R1), 0, 2, 0.0, 0
    while elapsed < 48 * HOUR:
        took = 40.0 * (3.0 if step % R1 == 0 else 1.0)
        elapsed, step = elapsed + took, step + 1
        count = tuner.step(took, BATCH)
        if tuner.news:
            changes, tuner.news = changes + 1, ""
        threads = count if count is not None else threads
    assert changes == 0
    # and the R1 step never tips a probe: each window holds the same number of them
    steady = ThreadTuner(2, R1)
    drive(steady, 2, lambda threads, step: (3.0 if step % R1 == 0 else 1.0) * 0.2, HOUR, switch_cost=1.0)
    assert steady.current == 2 and steady.gap == MAX_GAP_S


def test_the_trainer_tunes_its_threads_unless_given_a_number(tmp_path, shapes, capsys):
    from ganart.training import Trainer

    assert TrainConfig().threads == AUTO_THREADS  # the default
    assert auto_or_number(AUTO_THREADS)("auto") == AUTO_THREADS and auto_or_number(AUTO_THREADS)("3") == 3
    with pytest.raises(ValueError, match="threads must be auto or a whole number >= 0, got -2"):
        TrainConfig.create(threads=-2)
    before = torch.get_num_threads()
    try:
        fixed = Trainer(TrainConfig.create(data=str(shapes), out=str(tmp_path / "fixed"), resolution=16, batch=4,
                                           threads=1))
        assert fixed.tuner is None and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        t = Trainer(TrainConfig.create(data=str(shapes), out=str(tmp_path / "auto"), resolution=16, batch=4))
        assert t.tuner is not None and t.tuner.rungs == [2, 1]
        # the trainer sets the counts the tuner asks for: two steps measured at 2 threads (1 s
        # each), a probe at 1 (its first step not timed), which wins at 0.1 s a step; the change
        # goes to the terminal and to metrics.jsonl
        t.tuner = ThreadTuner(2, r1_interval=1, first_gap=0.0, min_window=2)
        seen = []
        for took in (1.0, 1.0, 9.0, 0.1, 0.1):
            t._tune_threads(took)
            seen.append(torch.get_num_threads())
        assert seen == [2, 1, 1, 1, 1] and t.tuner.current == 1
        assert "--threads auto: 1 thread now (40.0 img/s against 4.0 with 2" in capsys.readouterr().err
        assert '"event": "threads"' in (tmp_path / "auto" / "metrics.jsonl").read_text()
        # a rolled-back step is not measured
        t._tune_threads(0.0, plain=False)
        assert not t.tuner.recent and not t.tuner.trial
        # and fit() feeds it every step, then hands the process its threads back
        torch.set_num_threads(2)
        run = Trainer(TrainConfig.create(data=str(shapes), out=str(tmp_path / "fit"), resolution=16, batch=4,
                                         max_steps=4, snapshot_kimg=0))
        run.tuner = ThreadTuner(2, r1_interval=1, first_gap=1e-9, min_window=1)
        run.fit()
        assert run.tuner.current == 1 or run.tuner.gap > 1e-9  # a probe was run and judged
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
