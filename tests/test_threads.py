"""behemoth.threads: threads chosen from the free cores and the work's size; ``--threads``."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from behemoth import threads
from behemoth.cli.common import configure_threads, model_params
from behemoth.cli.main import build_parser, main
from behemoth.errors import ConfigError
from behemoth.threads import MIN_WORK_PER_THREAD as W
from behemoth.threads import CpuState, choose_threads, decide, gpt_params, training_threads


@pytest.fixture(autouse=True)
def _keep_threads(monkeypatch: pytest.MonkeyPatch) -> object:
    """Every test leaves torch's thread count and the thread variables as it found them."""
    before = torch.get_num_threads()
    monkeypatch.delenv(threads.ENV, raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("cores", "load", "work", "want"),
    [
        (2, 0.0, math.inf, 2),  # idle machine, large work: every core
        (2, 0.1, 10 * W, 2),  # background noise under the slack
        (2, 0.8, math.inf, 1),  # another process on most of a core
        (2, 3.1, math.inf, 1),  # overloaded: never fewer than one
        (2, 0.0, 0.5 * W, 1),  # small model: one thread even when idle
        (2, 0.0, 0.0, 1),
        (8, 2.0, math.inf, 6),  # two cores taken: the other six
        (8, 0.0, 3.5 * W, 3),  # one thread per MIN_WORK_PER_THREAD of work
        (8, 6.9, 3.5 * W, 1),
        (1, 0.0, math.inf, 1),
        (4, 1.76, math.inf, 2),  # floor(4 - 1.76 + 0.25) = 2
    ],
)
def test_choose_threads(cores: int, load: float, work: float, want: int) -> None:
    assert choose_threads(cores, load, work) == want


@pytest.mark.parametrize(("cores", "load", "work"), [(0, 0.0, 1.0), (2, -1.0, 1.0), (2, 0, -1)])
def test_choose_threads_refuses_nonsense(cores: int, load: float, work: float) -> None:
    with pytest.raises(ValueError, match="must be >= 0|must be >= 1"):
        choose_threads(cores, load, work)


def test_choose_threads_never_more_than_the_free_cores() -> None:
    for cores in range(1, 9):
        for load in [0.0, 0.3, 1.0, 2.5, 7.0]:
            for work in [0.0, W, 4 * W, math.inf]:
                n = choose_threads(cores, load, work)
                assert 1 <= n <= max(1, cores - math.floor(load - threads.SLACK))
                assert n <= max(1, work // W) or math.isinf(work)


def test_decide_explicit_request_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    busy = CpuState(cores=2, load=5.0)
    assert decide(math.inf, cap=1, state=busy) == (1, "2 cores, load 5.0")  # load, not cap
    assert decide(math.inf, cap=1, state=CpuState(2, 0.0)) == (
        1,
        "2 cores, load 0.0, at most 1 for this recipe",
    )
    assert decide(math.inf, state=CpuState(2, 0.0)) == (2, "2 cores, load 0.0")
    assert decide(0.1 * W, state=CpuState(2, 0.0)) == (1, "2 cores, load 0.0, small model")
    assert decide(math.inf, cap=1, state=CpuState(2, 0.0))[0] == 1
    monkeypatch.setenv(threads.ENV, "2")
    assert decide(math.inf, cap=1, state=busy) == (2, "--threads")  # the flag over the preset
    monkeypatch.setenv(threads.ENV, "0")
    with pytest.raises(ConfigError, match="BEHEMOTH_THREADS: 0 threads; give a count >= 1"):
        decide(1.0)


def test_requested_reads_omp_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads.requested() is None
    assert threads.requested(omp=True) == (3, "OMP_NUM_THREADS")
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.requested(omp=True) == (1, "--threads")


def test_cpu_state_is_measured() -> None:
    state = threads.cpu_state()
    assert 1 <= state.cores <= (os_cores := len(__import__("os").sched_getaffinity(0)))
    assert state.load >= 0 and os_cores >= 1
    assert state.describe().startswith(f"{state.cores} core")


def test_other_load_sees_a_busy_process() -> None:
    """A process spinning on a core counts as (at least) one runnable task of another process;
    this process's own threads do not count."""
    if not Path("/proc/loadavg").is_file():
        pytest.skip("no /proc/loadavg")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        seen = [threads._running_others() for _ in range(20)]
    finally:
        busy.kill()
        busy.wait()
    assert sum(c is not None and c >= 1 for c in seen) >= 15, seen
    assert threads.other_load(samples=3, interval=0.0) >= 0.0


@pytest.mark.slow  # imports transformers
def test_gpt_params_matches_the_built_model() -> None:
    from behemoth.model import build_model, count_params, model_preset, resolve_run

    cfg = resolve_run(model_preset("tiny"))
    model = build_model(cfg.model, 500, 0)
    m = cfg.model
    estimate = gpt_params(500, m.width, m.layers, m.mlp)
    assert abs(estimate - count_params(model)) / count_params(model) < 0.02


def test_training_threads_caps_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.set_num_threads(2)
    monkeypatch.setattr(threads, "cpu_state", lambda: CpuState(2, 0.0))
    with training_threads(math.inf, 1, False) as n:  # tiny's train.threads: 1
        assert n == torch.get_num_threads() == 1
    assert torch.get_num_threads() == 2
    monkeypatch.setattr(threads, "cpu_state", lambda: CpuState(2, 4.0))
    with training_threads(math.inf, 2, False) as n:  # the demo's 2, on a busy machine: still 2
        assert n == torch.get_num_threads() == 2  # (the weights must not depend on the load)
    with training_threads(math.inf, None, False) as n:  # no recipe count: chosen from the load
        assert n == torch.get_num_threads() == 1
    monkeypatch.setenv(threads.ENV, "2")
    with training_threads(0.0, 1, False) as n:
        assert n == torch.get_num_threads() == 2
    assert torch.get_num_threads() == 2


def test_reproducible_refuses_other_thread_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(threads.ENV, "2")
    with (
        pytest.raises(ConfigError, match="train.reproducible: trains on one thread, not the 2"),
        training_threads(1.0, None, True),
    ):
        pass


def test_reproducible_refuses_a_process_already_on_other_kernels(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for k, v in threads.REPRODUCIBLE_ENV.items():
        monkeypatch.setenv(k, v)  # restored after the test
    torch.ones(4).sum()  # ATen has chosen its kernels in this process
    if torch.backends.cpu.get_cpu_capability() == "DEFAULT":
        pytest.skip("this process already runs the portable kernels")
    with (
        pytest.raises(ConfigError, match="train.reproducible: this process already runs ATen's"),
        training_threads(1.0, None, True),
    ):
        pass


def test_every_computing_command_takes_threads() -> None:
    from behemoth.cli.common import THREADED
    from behemoth.cli.main import COMMANDS

    parser = build_parser(full=True)
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in COMMANDS:
        has = "--threads" in sub.choices[name]._option_string_actions  # type: ignore[attr-defined]
        assert has == (name in THREADED), name
    assert "--reproducible" in sub.choices["train"]._option_string_actions  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_bad_threads_flag_is_one_line(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["edit", "nowhere", "--editor", "rome", "--threads", value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--threads" in err


def test_bad_threads_variable_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "0")
    assert main(["evaluate", "nowhere"]) == 2
    assert capsys.readouterr().err == (
        "behemoth: error: OMP_NUM_THREADS: 0 threads; give a count >= 1, e.g. 1\n"
    )


def test_configure_threads_applies_and_logs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import argparse
    import json

    (tmp_path / "config.json").write_text(
        json.dumps(
            {"hidden_size": 64, "num_hidden_layers": 4, "intermediate_size": 256, "vocab_size": 900}
        )
    )
    assert model_params(str(tmp_path)) == gpt_params(900, 64, 4, 256)
    assert model_params(str(tmp_path / "missing")) is None
    monkeypatch.setattr(threads, "cpu_state", lambda: CpuState(2, 0.0))
    caplog.set_level(logging.INFO, logger="behemoth.threads")
    configure_threads("edit", argparse.Namespace(model=str(tmp_path), threads=None))
    assert torch.get_num_threads() == 1  # a tiny model's edit: one thread on an idle machine
    # said when the work starts (a refusal of bad input before it stays one line)
    assert "threads:" not in caplog.text
    threads.announce()
    assert "threads: 1 (2 cores, load 0.0, small model) for edit" in caplog.text
    configure_threads("evaluate", argparse.Namespace(model=str(tmp_path), threads=2))
    assert torch.get_num_threads() == 2
    threads.forget_pending()
    assert "for evaluate" not in caplog.text
    configure_threads("evaluate", argparse.Namespace(model=str(tmp_path), threads=2))
    threads.announce()
    assert "threads: 2 (--threads) for evaluate" in caplog.text
    import os

    assert os.environ[threads.ENV] == "2"  # for the training loop and spawned workers


def test_reproducible_flag_sets_the_option() -> None:
    import argparse

    args = argparse.Namespace(reproducible=True, overrides=["train.lr=0.1"], threads=None)
    configure_threads("train", args)
    assert args.overrides == ["train.lr=0.1", "train.reproducible=true"]
