"""--threads auto: the tuner's choices on simulated step times, and its wiring in the trainer."""

from __future__ import annotations

import pytest
import torch

from ganart.training import TrainConfig
from ganart.training.cli import auto_or_number
from ganart.training.config import AUTO_THREADS
from ganart.training.threads import MAX_GAP_S, ThreadTuner, ladder

WINDOW = 16
BATCH = 8


def machine(busy: bool):
    """Seconds of a step at a thread count on a 2-core machine, from the rates measured on one
    (benchmarks/train_speed.py --threads 2,1 [--beside 1]); every WINDOW-th step pays R1, 3x."""
    rates = {(2, False): 38.0, (1, False): 24.5, (2, True): 10.8, (1, True): 23.6}

    def seconds(threads: int, step: int) -> float:
        return BATCH / rates[threads, busy] * (3.0 if step % WINDOW == 0 else 1.0)
    return seconds


def drive(tuner: ThreadTuner, threads: int, seconds_of, until: float, step: int = 0) -> tuple[int, int, float, float]:
    """Train for ``until`` simulated seconds the way the trainer does -> (threads, step, seconds at
    1 thread, elapsed)."""
    elapsed = at_one = 0.0
    while elapsed < until:
        took = seconds_of(threads, step)
        elapsed += took
        at_one += took if threads == 1 else 0.0
        step += 1
        count = tuner.step(took, BATCH)
        threads = count if count is not None else threads
    return threads, step, at_one, elapsed


def test_the_tuner_keeps_the_faster_count_as_the_load_changes():
    assert ladder(2) == [2, 1] and ladder(6) == [6, 3, 1] and ladder(1) == [1] and ladder(0) == [1]
    assert not ThreadTuner(1, WINDOW).enabled and ThreadTuner(1, WINDOW).step(1.0, BATCH) is None
    tuner = ThreadTuner(2, WINDOW)
    # a quiet machine: 2 threads stay, and the probes at 1 thread become rare (the gap doubles)
    threads, step, at_one, elapsed = drive(tuner, 2, machine(busy=False), 4 * 3600)
    assert threads == 2 and tuner.current == 2 and tuner.gap == MAX_GAP_S and not tuner.news
    assert 0 < at_one / elapsed < 0.02  # probes ran, briefly
    never = drive(ThreadTuner(2, WINDOW, first_gap=float("inf")), 2, machine(busy=False), 4 * 3600)[1]
    assert 1 - step / never < 0.01  # what probing costs in images where it finds nothing
    # something starts using a core: the next probe moves to 1 thread, and says why
    threads, step, _, _ = drive(tuner, threads, machine(busy=True), MAX_GAP_S + 60, step)
    assert threads == 1 and tuner.current == 1
    assert "1 thread now" in tuner.news and "something else is using the CPU" in tuner.news
    tuner.news = ""
    # and when it stops, 2 threads come back at a later probe
    threads, step, _, _ = drive(tuner, threads, machine(busy=False), MAX_GAP_S + 60, step)
    assert threads == 2 and tuner.current == 2 and "2 threads now" in tuner.news
    # the R1 step every WINDOW steps never tips a probe: each window holds exactly one
    steady = ThreadTuner(2, WINDOW)
    drive(steady, 2, lambda threads, step: (3.0 if step % WINDOW == 0 else 1.0) * 0.2, 3600)
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
        # each), a probe at 1 (its first step not timed), which wins at 0.1 s a step, and a log line
        t.tuner = ThreadTuner(2, window=2, first_gap=0.0)
        seen = []
        for took in (1.0, 1.0, 9.0, 0.1, 0.1):
            t._tune_threads(took)
            seen.append(torch.get_num_threads())
        assert seen == [2, 1, 1, 1, 1] and t.tuner.current == 1
        assert "--threads auto: 1 thread now (40.0 img/s against 4.0 with 2" in capsys.readouterr().err
        # and fit() feeds it every step
        torch.set_num_threads(2)
        run = Trainer(TrainConfig.create(data=str(shapes), out=str(tmp_path / "fit"), resolution=16, batch=4,
                                         max_steps=4, snapshot_kimg=0))
        run.tuner = ThreadTuner(2, window=1, first_gap=1e-9)
        run.fit()
        assert run.tuner.current == 1 or run.tuner.gap == 2e-9  # a probe was run and judged
    finally:
        torch.set_num_threads(before)
