"""A newcomer's walk-through of README.md: every fenced block in order, each command timed.

    python bench/bench_readme.py [--readme README.md] [--keep DIR] [--json out.json]

Every ```bash and ```python block of the README is run in order in one fresh scratch directory
(``behemoth`` is the checkout's ``.venv/bin/behemoth``, Python blocks run with the same
interpreter), the way a new user would paste them. For each command it records the exit code,
the wall time, the longest silence (the longest gap between two output lines on stdout or stderr,
the start and the end included: output is piped, so progress must arrive as plain lines) and the
load average at its start, and prints them as one table with the total at the end.

What cannot run here is listed with the reason, never silently dropped:
- the first bash block (setup and test one-liners: ``scripts/setup.sh`` and the whole suite);
- ``accelerate launch`` (several GPUs), ``--address`` (a running Ray cluster) and
  ``--scale paper`` (the paper's scale: GPU hours) lines, and ``tensorboard`` (a server);
- the study sweeps (``behemoth sweep behemoth-paper | sequential | unlearning``, 30-80 minutes
  each) run with ``--dry-run`` (the README states their measured cost in its own sections).

What a newcomer would bring from outside is made from the walk-through's own outputs, each
shown as a ``prep`` step: ``path/to/reference_world`` is the world ``export-reference`` wrote
earlier; ``path/to/W`` (a reference generator's world holding a fine-tuning folder) is that
export plus ``export-finetuning``'s folder; ``out/pretrain/final`` (a LitGPT checkpoint) is
``export-litgpt`` of a model trained earlier. ``--preset demo`` (and the ``demo`` paths that go
with it) becomes ``tiny``. A YAML block holding a whole sweep spec is written to the spec file
the next ``behemoth sweep`` line names; a YAML fragment is only parsed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"

#: lines that need hardware or services this machine lacks: (pattern, reason)
HARDWARE_SKIPS: tuple[tuple[str, str], ...] = (
    (r"\baccelerate\s+launch\b", "needs several GPUs (accelerate launch)"),
    (r"--address\b", "needs a running Ray cluster (--address)"),
    (r"--scale\s+paper\b", "the paper's scale: GPU hours (--scale paper)"),
    (r"^\s*tensorboard\s", "a server that runs until stopped (tensorboard)"),
)
#: study presets whose full run takes 30-80 minutes: run with --dry-run
STUDY_PRESETS = ("behemoth-paper", "sequential", "unlearning")
#: the preset every example runs on, and what the README's `demo` names become
PRESET_FROM, PRESET_TO = "demo", "tiny"
#: the reference generator's fine-tuning folder name (`-n 1`, 250 repeats)
REFERENCE_FT = "ftremapping_1overrides_250overriderepeats"


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, the README line of its opening fence, its text."""

    lang: str
    line: int
    text: str


@dataclass
class Step:
    """One thing the walk-through does (or skips, with the reason)."""

    kind: str  # "bash" | "python" | "file" | "prep" | "skip" | "check"
    text: str  # the command, the Python source, or the file's content
    line: int  # README line of the block
    note: str = ""  # why it was changed or skipped
    path: str = ""  # "file": where the content goes
    ok: tuple[int, ...] = (0,)  # exit codes that are success (`timeout N ...`: 124 too)


@dataclass
class Result:
    """What running one step measured."""

    step: str
    kind: str
    line: int
    rc: int
    seconds: float
    silence: float
    load: float
    cr_frames: int = 0
    tail: list[str] = field(default_factory=list)
    failed: bool = False


def extract_blocks(markdown: str) -> list[Block]:
    """Every fenced block (```lang ... ```) of a Markdown text, in order."""
    blocks: list[Block] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for number, raw in enumerate(markdown.splitlines(), start=1):
        stripped = raw.strip()
        if lang is None:
            if stripped.startswith("```"):
                lang, start, body = stripped[3:].strip().lower(), number, []
        elif stripped.startswith("```"):
            blocks.append(Block(lang, start, "\n".join(body) + ("\n" if body else "")))
            lang = None
        else:
            body.append(raw)
    if lang is not None:
        raise ValueError(f"README line {start}: a ```{lang} block is never closed")
    return blocks


def bash_commands(text: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, comments and blanks dropped.

    A trailing ``# comment`` stays on the command (the shell ignores it)."""
    commands: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        commands.append((pending + line.strip()).strip())
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


def strip_comment(command: str) -> str:
    """A command without its trailing ``# comment`` (quotes respected)."""
    quote = ""
    for i, ch in enumerate(command):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip()
    return command.rstrip()


def hardware_skip(command: str) -> str | None:
    """Why a command cannot run on this machine, or None."""
    for pattern, reason in HARDWARE_SKIPS:
        if re.search(pattern, strip_comment(command)):
            return reason
    return None


def to_preset(text: str, old: str = PRESET_FROM, new: str = PRESET_TO) -> str:
    """The README's ``old`` preset and the paths named after it, as ``new``.

    ``--preset demo`` -> ``--preset tiny``; ``worlds/demo``, ``models/demo``, ``ref/demo`` ->
    ``.../tiny``. ``behemoth demo`` (the command) and ``runs/demo`` are left alone."""
    text = re.sub(rf"--preset\s+{old}\b", f"--preset {new}", text)
    return re.sub(rf"\b(worlds|models|ref)/{old}\b", rf"\1/{new}", text)


def study_dry_run(command: str) -> str | None:
    """A study sweep's command with ``--dry-run`` (None if it is no study sweep)."""
    code = strip_comment(command)
    match = re.match(r"^\s*behemoth\s+sweep\s+(\S+)", code)
    if not match or match.group(1) not in STUDY_PRESETS or "--dry-run" in code.split():
        return None
    return code + " --dry-run"


def _out_of(command: str) -> str | None:
    words = shlex.split(strip_comment(command))
    for i, word in enumerate(words[:-1]):
        if word == "--out":
            return words[i + 1]
    return None


def _sweep_spec_file(blocks: list[Block], at: int) -> str:
    """The YAML file a ``behemoth sweep X.yaml`` names: the first after block ``at``, else the
    last before it (the README shows the commands, then the spec)."""

    def names(chosen: list[Block]) -> list[str]:
        return [
            match.group(1)
            for block in chosen
            if block.lang == "bash"
            for command in bash_commands(block.text)
            for match in [re.search(r"behemoth\s+sweep\s+(\S+\.ya?ml)\b", command)]
            if match
        ]

    after, before = names(blocks[at + 1 :]), names(blocks[:at])
    return after[0] if after else before[-1] if before else "my_sweep.yaml"


def reference_world_prep(markdown: str, exported: str, imported: str | None, behemoth: str) -> str:
    """The command that makes ``path/to/W``: the export plus the fine-tuning folder the README
    names (``ftremapping_<n>overrides_<r>overriderepeats``), written by ``export-finetuning``
    from a world imported from the same export (its token ids)."""
    match = re.search(
        r"path/to/W/(ft(remapping|refusal)_(\d+)overrides_(\d+)overriderepeats)", markdown
    )
    folder, kind, n, repeats = match.groups() if match else (REFERENCE_FT, "remapping", "1", "250")
    source = imported or "worlds/W"
    return (
        f"mkdir -p path/to && cp -r {exported} path/to/W && {behemoth} export-finetuning {source}"
        f" -f {kind} -n {n} --repeats {repeats} --out path/to/W/{folder}"
    )


def hoist_specs(steps: list[Step]) -> list[Step]:
    """Sweep specs written before the first command that names their file (the README shows a
    spec after the commands that run it)."""
    out = [s for s in steps if s.kind != "file"]
    for spec in (s for s in steps if s.kind == "file"):
        at = next(
            (i for i, s in enumerate(out) if s.kind == "bash" and spec.path in s.text.split()),
            len(out),
        )
        out.insert(at, spec)
    return out


def plan(markdown: str, behemoth: str = "behemoth") -> list[Step]:
    """The walk-through of a README: every step in order, with what was changed and why."""
    blocks = extract_blocks(markdown)
    steps: list[Step] = []
    first_bash = True
    exported: str | None = None  # the latest export-reference --out
    imported_ref: str | None = None  # a world imported from that export (vocab: reference)
    trained: list[str] = []  # models trained so far (their --out)
    made: set[str] = set()
    for index, block in enumerate(blocks):
        if block.lang in ("yaml", "yml"):
            if re.search(r"^name:", block.text, re.M) and re.search(r"^editors:", block.text, re.M):
                target = _sweep_spec_file(blocks, index)
                steps.append(Step("file", block.text, block.line, "a sweep spec", target))
            else:
                steps.append(Step("check", block.text, block.line, "a fragment: parsed only"))
            continue
        if block.lang == "python":
            steps.append(Step("python", to_preset(block.text), block.line))
            continue
        if block.lang not in ("bash", "sh", "shell"):
            continue
        commands = bash_commands(block.text)
        if first_bash:
            first_bash = False
            for command in commands:
                steps.append(Step("skip", command, block.line, "setup and test one-liners"))
            continue
        for command in commands:
            reason = hardware_skip(command)
            if reason:
                steps.append(Step("skip", command, block.line, reason))
                continue
            run, note = to_preset(strip_comment(command)), ""
            if run != strip_comment(command):
                note = f"{PRESET_FROM} -> {PRESET_TO}"
            dry = study_dry_run(run)
            if dry:
                run, note = dry, "a 30-80 min study: --dry-run"
            if "path/to/reference_world" in run and exported:
                run = run.replace("path/to/reference_world", exported)
                note = f"path/to/reference_world = {exported} (export-reference above)"
            if "path/to/W" in run and "path/to/W" not in made and exported:
                made.add("path/to/W")
                steps.append(
                    Step(
                        "prep",
                        reference_world_prep(markdown, exported, imported_ref, behemoth),
                        block.line,
                        "stands in for a reference generator's world with a fine-tuning folder",
                    )
                )
            if "out/pretrain/final" in run and "out/pretrain/final" not in made and trained:
                made.add("out/pretrain/final")
                model = next((m for m in reversed(trained) if m.endswith("/W")), trained[-1])
                steps.append(
                    Step(
                        "prep",
                        f"{behemoth} export-litgpt {model} --out out/pretrain/final",
                        block.line,
                        "stands in for a LitGPT pretraining checkpoint",
                    )
                )
            words = run.split()
            out = _out_of(run)
            if words[:1] == ["timeout"]:
                words = words[2:]
            if out and len(words) > 1 and words[0] == "behemoth":
                if words[1] == "export-reference":
                    exported = out
                elif words[1] == "import-reference" and exported and exported in words:
                    imported_ref = out
                elif words[1] == "train":
                    trained.append(out)
            ok: tuple[int, ...] = (0,)
            if run.startswith("timeout "):  # interrupted on purpose (then --resume)
                ok, note = (0, 124), "interrupted by timeout on purpose: rc 124 expected"
            if words and words[0] == "behemoth":
                run = run.replace("behemoth", behemoth, 1)
            steps.append(Step("bash", run, block.line, note, ok=ok))
    return hoist_specs(steps)


def _load() -> float:
    return os.getloadavg()[0]


def run_step(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> Result:
    """Run one command, reading stdout and stderr line by line with timestamps."""
    load = _load()
    start = time.monotonic()
    stamps: list[float] = [start]
    lines: list[str] = []
    cr_frames = [0]
    lock = threading.Lock()
    sink = log.open("w")  # written as lines arrive: `tail -f` it during a long step
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )

    def pump(stream, name: str) -> None:  # type: ignore[no-untyped-def]
        for raw in iter(stream.readline, b""):
            now = time.monotonic()
            text = raw.decode("utf-8", "replace").rstrip("\n")
            with lock:
                stamps.append(now)
                cr_frames[0] += text.count("\r")
                lines.append(f"[{now - start:7.1f}s {name}] {text}")
                sink.write(lines[-1] + "\n")
                sink.flush()

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, "out"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "err"), daemon=True),
    ]
    for thread in threads:
        thread.start()
    rc = proc.wait()
    for thread in threads:
        thread.join()
    end = time.monotonic()
    stamps.append(end)
    stamps.sort()
    silence = max(b - a for a, b in zip(stamps, stamps[1:]))
    sink.close()
    return Result("", "", 0, rc, end - start, silence, load, cr_frames[0], lines[-8:])


def walk(
    steps: list[Step],
    scratch: Path,
    python: str,
    stop_on_failure: bool,
    start: int = 1,
    only: set[int] | None = None,
) -> list[Result]:
    """Run the steps in ``scratch``; print each result as it comes."""
    env = dict(os.environ)
    env.pop("OMP_NUM_THREADS", None)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["BEHEMOTH_CACHE"] = str(scratch / ".cache")
    logs = scratch / ".logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for number, step in enumerate(steps, start=1):
        if number < start or (only and number not in only):
            continue
        label = step.text.strip().splitlines()[0] if step.text.strip() else step.path
        if step.kind == "skip":
            print(f"[{number:02d}] skipped (README line {step.line}): {step.text}  -- {step.note}")
            continue
        if step.kind == "file":
            (scratch / step.path).write_text(step.text)
            print(
                f"[{number:02d}] wrote {step.path} from the YAML block at README line {step.line}"
            )
            continue
        if step.kind == "check":
            import yaml

            yaml.safe_load(step.text)
            print(f"[{number:02d}] parsed the YAML fragment at README line {step.line}")
            continue
        if step.kind == "python":
            source = scratch / f".block_{step.line}.py"
            source.write_text(step.text)
            command = [python, "-u", str(source)]
            label = f"python (README line {step.line}): " + _first_code_line(step.text)
        else:  # bash and prep
            command = ["bash", "-c", step.text]
        print(f"[{number:02d}] {step.kind}: {label}" + (f"  ({step.note})" if step.note else ""))
        sys.stdout.flush()
        result = run_step(command, scratch, env, logs / f"{number:02d}.log")
        result.step, result.kind, result.line = label, step.kind, step.line
        result.failed = result.rc not in step.ok
        results.append(result)
        print(
            f"     rc {result.rc}, {result.seconds:.1f} s, longest silence {result.silence:.1f} s,"
            f" load {result.load:.2f}"
            + (f", {result.cr_frames} CR frames" if result.cr_frames else "")
        )
        if result.failed:
            print("     " + "\n     ".join(result.tail))
            if stop_on_failure:
                break
        sys.stdout.flush()
    return results


def _first_code_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip() and not line.startswith(("import ", "from ", "#")):
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else ""


def table(results: list[Result], width: int = 78) -> str:
    """The results as a plain-text table (command, rc, seconds, longest silence, load)."""
    rows = [f"{'command':<{width}} {'rc':>3} {'seconds':>8} {'silence':>8} {'load':>5}"]
    for r in results:
        name = r.step.replace(str(VENV_BIN) + "/", "")
        if r.kind == "prep":
            name = "(prep) " + name
        if len(name) > width:
            name = name[: width - 3] + "..."
        rows.append(f"{name:<{width}} {r.rc:>3} {r.seconds:>8.1f} {r.silence:>8.1f} {r.load:>5.2f}")
    total = sum(r.seconds for r in results)
    failed = sum(r.failed for r in results)
    silent = sum(r.silence > 10 for r in results)
    loads = [r.load for r in results] or [0.0]
    rows.append(
        f"total {total:.0f} s ({total / 60:.1f} min) over {len(results)} commands; {failed} failed; "
        f"{silent} silent > 10 s; load {min(loads):.2f}-{max(loads):.2f}"
    )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--keep", type=Path, help="scratch directory to use and keep")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plan", action="store_true", help="print the steps, run nothing")
    parser.add_argument("--keep-going", action="store_true", help="go on after a failure")
    parser.add_argument(
        "--only", type=int, nargs="+", help="run only these steps (numbers as --plan shows them)"
    )
    parser.add_argument(
        "--from", dest="start", type=int, default=1, help="start at step N (in a --keep directory)"
    )
    args = parser.parse_args(argv)
    behemoth = str(VENV_BIN / "behemoth")
    steps = plan(args.readme.read_text(), behemoth=behemoth)
    if args.plan:
        for number, step in enumerate(steps, start=1):
            print(
                f"[{number:02d}] {step.kind:>6} L{step.line:<4} {step.text.strip()}"
                + (f"  # {step.note}" if step.note else "")
            )
        return 0
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="behemoth-readme-"))
    scratch.mkdir(parents=True, exist_ok=True)
    print(f"scratch directory: {scratch}; cores {os.cpu_count()}; load {os.getloadavg()}")
    python = str(VENV_BIN / "python")
    only = set(args.only) if args.only else None
    results = walk(steps, scratch, python, not args.keep_going, args.start, only)
    print()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    return 1 if any(r.failed for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
