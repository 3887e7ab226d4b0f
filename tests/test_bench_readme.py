"""bench/bench_readme.py: the README walk-through's block extraction and substitutions (no
command is run here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location(
        "bench_readme", ROOT / "bench" / "bench_readme.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_readme"] = module
    spec.loader.exec_module(module)
    return module


bench = _bench()

README = """# x
```bash
bash scripts/setup.sh && bash scripts/test.sh     # set up
```
Prose.
```bash
behemoth generate --preset demo --out worlds/demo   # presets: tiny demo
behemoth export-reference worlds/demo --out ref/demo
behemoth import-reference path/to/reference_world --out worlds/imported

# a comment line
behemoth import-reference path/to/W --out worlds/W
behemoth train worlds/W --preset tiny --out models/W
behemoth edit models/W --editor rome --scenario from-reference \\
    --scenario.path path/to/W/ftremapping_2overrides_40overriderepeats
timeout 30 behemoth train worlds/demo --preset demo --out models/l2
behemoth train worlds/demo --out models/l2 --resume
accelerate launch -m behemoth.cli.main train ...   # GPUs
behemoth convert-litgpt out/pretrain/final --world worlds/W --out models/lit
behemoth sweep behemoth-paper --out studies/paper   # presets
behemoth sweep behemoth-paper --scale paper --out studies/big
behemoth sweep my_sweep.yaml --out studies/mine --backend ray
behemoth sweep my_sweep.yaml --out studies/mine --backend ray --address HOST:6379
behemoth demo --out runs/demo
```
```python
import behemoth
out = behemoth.edit("models/demo", prompt="p", target="t")
```
```yaml
models: {tiny: {preset: tiny}}
```
```yaml
name: s
editors: {rome: {name: rome}}
```
"""


def test_extract_blocks_in_order_with_lines():
    blocks = bench.extract_blocks(README)
    assert [(b.lang, b.line) for b in blocks] == [
        ("bash", 2),
        ("bash", 6),
        ("python", 26),
        ("yaml", 30),
        ("yaml", 33),
    ]
    assert blocks[0].text == "bash scripts/setup.sh && bash scripts/test.sh     # set up\n"


def test_unclosed_block_is_an_error():
    with pytest.raises(ValueError, match="line 1"):
        bench.extract_blocks("```bash\nbehemoth x\n")


def test_bash_commands_join_continuations_and_drop_comments():
    text = "# c\n\nbehemoth a \\\n    --b c   # note\nbehemoth d\n"
    assert bench.bash_commands(text) == ["behemoth a --b c   # note", "behemoth d"]


def test_strip_comment_respects_quotes():
    assert bench.strip_comment("behemoth a --out x   # 3 s on tiny") == "behemoth a --out x"
    assert (
        bench.strip_comment('echo "{a: 1} # not" > f.yaml # yes') == 'echo "{a: 1} # not" > f.yaml'
    )
    assert bench.strip_comment("behemoth a#b") == "behemoth a#b"


def test_to_preset_renames_the_preset_and_its_paths_only():
    got = bench.to_preset("behemoth train worlds/demo --preset demo --out models/demo")
    assert got == "behemoth train worlds/tiny --preset tiny --out models/tiny"
    assert bench.to_preset("behemoth demo --out runs/demo") == "behemoth demo --out runs/demo"
    assert bench.to_preset("--preset demos") == "--preset demos"


def test_hardware_skips_and_study_dry_runs():
    assert "GPU" in bench.hardware_skip("accelerate launch -m behemoth.cli.main train ...")
    assert "cluster" in bench.hardware_skip("behemoth sweep s.yaml --backend ray --address H:1")
    assert "paper" in bench.hardware_skip("behemoth sweep behemoth-paper --scale paper --out x")
    assert bench.hardware_skip("behemoth sweep s.yaml --backend ray  # --address later") is None
    assert "server" in bench.hardware_skip("tensorboard --logdir models/t.tensorboard  # curves")
    assert bench.hardware_skip("behemoth train w --log tensorboard --out m") is None
    assert bench.study_dry_run("behemoth sweep sequential --out s  # c") == (
        "behemoth sweep sequential --out s --dry-run"
    )
    assert bench.study_dry_run("behemoth sweep my.yaml --out s") is None
    assert bench.study_dry_run("behemoth sweep unlearning --out s --dry-run") is None


def test_plan_walks_every_block_in_order():
    steps = bench.plan(README, behemoth="B")
    kinds = [(s.kind, s.text.split("\n")[0]) for s in steps]
    # the setup block is skipped, with its reason
    assert kinds[0] == ("skip", "bash scripts/setup.sh && bash scripts/test.sh     # set up")
    assert steps[0].note == "setup and test one-liners"
    runs = [s.text for s in steps if s.kind in ("bash", "prep")]
    assert runs[0] == "B generate --preset tiny --out worlds/tiny"
    # path/to/reference_world is the export made just before
    assert runs[2] == "B import-reference ref/tiny --out worlds/imported"
    # path/to/W: the export plus the fine-tuning folder the README names, from the import
    assert runs[3] == (
        "mkdir -p path/to && cp -r ref/tiny path/to/W && B export-finetuning worlds/imported"
        " -f remapping -n 2 --repeats 40 --out path/to/W/ftremapping_2overrides_40overriderepeats"
    )
    assert [s.kind for s in steps if s.text == runs[3]] == ["prep"]
    assert runs[6] == (
        "B edit models/W --editor rome --scenario from-reference"
        " --scenario.path path/to/W/ftremapping_2overrides_40overriderepeats"
    )
    # an interruption on purpose: 124 is success
    timeout = next(s for s in steps if s.text.startswith("timeout"))
    assert timeout.text == "timeout 30 B train worlds/tiny --preset tiny --out models/l2"
    assert timeout.ok == (0, 124)
    # a LitGPT checkpoint: exported from the model of worlds/W trained earlier
    assert "B export-litgpt models/W --out out/pretrain/final" in runs
    assert runs.index("B export-litgpt models/W --out out/pretrain/final") + 1 == runs.index(
        "B convert-litgpt out/pretrain/final --world worlds/W --out models/lit"
    )
    # studies: dry runs; hardware lines skipped with their reasons
    assert "B sweep behemoth-paper --out studies/paper --dry-run" in runs
    skipped = {s.text.split()[0] + " " + s.note for s in steps if s.kind == "skip"}
    assert "accelerate needs several GPUs (accelerate launch)" in skipped
    assert sum(s.kind == "skip" for s in steps) == 4  # setup, accelerate, --scale paper, --address
    # the demo command is left as it is (it is `behemoth demo`, not `--preset demo`)
    assert "B demo --out runs/demo" in runs
    # Python runs with the demo paths renamed; the fragment is parsed; the spec (shown after
    # the commands) is written before the first command that names its file
    python = next(s for s in steps if s.kind == "python")
    assert 'behemoth.edit("models/tiny"' in python.text
    assert [s.kind for s in steps][-1] == "check"
    spec = next(i for i, s in enumerate(steps) if s.kind == "file")
    assert steps[spec].path == "my_sweep.yaml"
    assert steps[spec + 1].text == "B sweep my_sweep.yaml --out studies/mine --backend ray"


def test_sweep_spec_is_written_before_the_command_that_uses_it():
    text = (
        "```bash\nsetup\n```\n```bash\nbehemoth sweep s.yaml --out o --dry-run\n"
        "behemoth report o\n```\n```yaml\nname: n\neditors: {}\n```\n"
    )
    steps = bench.plan(text, behemoth="B")
    assert [(s.kind, s.path or s.text) for s in steps] == [
        ("skip", "setup"),
        ("file", "s.yaml"),
        ("bash", "B sweep s.yaml --out o --dry-run"),
        ("bash", "B report o"),
    ]


def test_table_counts_failures_and_silences():
    results = [
        bench.Result("B a", "bash", 1, 0, 3.0, 2.0, 1.5),
        bench.Result("B b", "bash", 1, 124, 30.0, 12.0, 2.5, failed=False),
        bench.Result("B c", "bash", 1, 2, 1.0, 1.0, 3.0, failed=True),
    ]
    text = bench.table(results)
    assert text.splitlines()[-1] == (
        "total 34 s (0.6 min) over 3 commands; 1 failed; 1 silent > 10 s; load 1.50-3.00"
    )
