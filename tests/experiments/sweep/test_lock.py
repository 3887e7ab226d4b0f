"""Issue 24: a sweep's folder belongs to one sweep and one spec; its workers die with it; a
lock whose pid was reused is stale; huge specs and worker counts are refused up front."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from behemoth.cli.main import main
from behemoth.config import validate
from behemoth.errors import BehemothError, OutputExistsError
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend, memory_bound
from behemoth.experiments.sweep.runner import count_runs
from behemoth.io import lock_owner, lock_path, lock_text, out_lock, start_time
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict

ROOT = Path(__file__).resolve().parents[3]


def _small(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenarios": {"single": {"name": "single"}},
        "editors": {"lora": {"name": "lora", "grid": {"rank": [1]}}},
        "seeds": [0],
    }
    return toy_spec_dict(**{**base, **over})


def _run(spec: dict[str, Any], out: Path, **kw: Any) -> Any:
    return run_sweep(
        validate(SweepSpec, spec), out, backend=LocalBackend(0), run_fn=TOY_FN, progress=False, **kw
    )


def _one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_live_sweep_holds_its_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        lock_path(out).write_text(lock_text(live.pid))
        with pytest.raises(OutputExistsError, match=f"process {live.pid}"):
            _run(_small(), out)
        line = _one_line(["sweep", "demo", "--scale", "quick", "--out", str(out)], capsys)
        assert line.startswith("behemoth: error: --out:") and f"process {live.pid}" in line
        assert not out.exists()
    finally:
        live.kill()
        live.wait()
    _run(_small(), out)  # the holder is gone: its lock is stale
    assert (out / "results.parquet").is_file()


def test_a_folder_belongs_to_one_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s"
    _run(_small(), out)
    table = (out / "results.parquet").read_bytes()
    other = _small(seeds=[1])
    with pytest.raises(OutputExistsError, match="another spec .*--new-spec"):
        _run(other, out)
    assert (out / "results.parquet").read_bytes() == table  # untouched
    _run(_small(), out)  # the same spec resumes
    spec_file = tmp_path / "other.yaml"
    spec_file.write_text(yaml.safe_dump(other))
    line = _one_line(["sweep", str(spec_file), "--out", str(out)], capsys)
    assert "--out:" in line and "--new-spec" in line
    _run(other, out, new_spec=True)
    assert (out / "results.parquet").read_bytes() != table


def test_pid_reused_lock_is_stale(tmp_path: Path) -> None:
    me = os.getpid()
    start = start_time(me)
    assert start is not None
    assert lock_owner(f"{me} {start}\n") == me
    assert lock_owner(f"{me} {start + 1}\n") is None  # the pid now names another process
    assert lock_owner(f"{me}\n") == me  # locks of older versions: pid only
    assert lock_owner("garbage") is None
    # a lock naming pid 1 (alive: init) with another start time blocks nothing
    out = tmp_path / "o"
    init = start_time(1)
    if init is not None:
        lock_path(out).write_text(f"1 {init + 12345}\n")
        with out_lock(out):
            assert lock_owner(lock_path(out).read_text()) == me


def test_huge_spec_is_counted_and_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = _small(
        editors={"lora": {"name": "lora", "grid": {"rank": list(range(1, 1001))}}},
        seeds=list(range(1000)),
    )
    assert count_runs(validate(SweepSpec, spec)) == 1_000_000
    f = tmp_path / "huge.yaml"
    f.write_text(yaml.safe_dump(spec))
    t0 = time.perf_counter()
    for extra in ([], ["--dry-run"]):
        line = _one_line(["sweep", str(f), "--out", str(tmp_path / "o"), *extra], capsys)
        assert line.startswith("behemoth: error: SPEC:") and "1,000,000 runs" in line
        assert "--force" in line
    assert time.perf_counter() - t0 < 30  # counted, not expanded (112 s before)
    assert not (tmp_path / "o").exists()


def test_workers_bounded_by_memory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    too_many = memory_bound() + 1
    with pytest.raises(BehemothError, match=f"--workers: {too_many} runs at once"):
        LocalBackend(too_many)
    line = _one_line(
        ["sweep", "demo", "--scale", "quick", "--out", str(tmp_path / "o"), "--workers", "100000"],
        capsys,
    )
    assert "--workers:" in line and "at most" in line


KILLED = """
import sys
from behemoth.config import validate
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from tests.experiments.sweep.conftest import TOY_FN, toy_spec_dict
run_sweep(validate(SweepSpec, toy_spec_dict()), sys.argv[1], backend=LocalBackend(1),
          run_fn=TOY_FN, progress=False)
"""


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for c, pp in parents.items():
            if pp == p and c not in found:
                found.add(c)
                todo.append(c)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_sweep(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOY_SLEEP": "30",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
    }
    p = subprocess.Popen([sys.executable, "-c", KILLED, str(tmp_path / "s")], env=env)
    kids: set[int] = set()
    try:
        deadline = time.time() + 60
        while time.time() < deadline:  # until the worker runs a task
            kids = _children(p.pid)
            if (tmp_path / "s" / "shared" / ".started").is_dir() and any(
                (tmp_path / "s" / "shared" / ".started").iterdir()
            ):
                break
            time.sleep(0.2)
        assert kids, "the sweep started no worker"
        p.send_signal(signal.SIGKILL)
        p.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        survivors = [k for k in kids if _alive(k)]
        assert not survivors, f"processes outlived the killed sweep: {survivors}"
    finally:
        for k in kids:
            if _alive(k):
                os.kill(k, signal.SIGKILL)
        if p.poll() is None:
            p.kill()
