"""Issue 24: nothing lost, nothing silently wrong.

An output is never one of the command's inputs (nor contains one, nor lies inside one), even
with --force; report and demo never write into (or delete from) a folder that is not theirs;
refusals are one line naming the field and the fix, exit code 2, nothing written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from behemoth.cli.main import main
from behemoth.config import validate
from behemoth.errors import OutputExistsError
from behemoth.experiments.sweep import SweepSpec, run_sweep
from behemoth.experiments.sweep.backends import LocalBackend
from behemoth.io import check_not_input, check_out
from behemoth.world import World
from tests.experiments.sweep.conftest import toy_spec_dict
from tests.report.toy import TOY_FN


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], root: Path) -> str:
    """``behemoth ARGV`` exits 2 with one line on stderr and changes nothing under ``root``."""
    before = _snapshot(root)
    try:
        rc = main(argv)
    except SystemExit as e:
        rc = e.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert rc == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert _snapshot(root) == before, "a refused run changed files"
    return lines[0]


@pytest.fixture
def world_copy(tmp_path: Path, tiny_world: World) -> Path:
    w = tmp_path / "w"
    shutil.copytree(tiny_world.path, w, ignore=shutil.ignore_patterns("shards"))
    return w


# -- 1. data loss: an output is never an input --------------------------------------------------


def test_check_not_input_is_inside_and_contains(tmp_path: Path) -> None:
    inp = tmp_path / "a" / "world"
    inp.mkdir(parents=True)
    for out, how in (
        (inp, "is"),
        (inp / "sub", "lies inside"),
        (tmp_path / "a", "contains"),
        (tmp_path / "a" / "world" / ".." / "world", "is"),
    ):
        with pytest.raises(OutputExistsError, match=f"{how} the input WORLD"):
            check_not_input(out, {"WORLD": inp})
    link = tmp_path / "link"
    link.symlink_to(inp)
    with pytest.raises(OutputExistsError, match="is the input WORLD"):
        check_not_input(link, {"WORLD": inp})
    check_not_input(tmp_path / "a" / "other", {"WORLD": inp, "--world": None})
    with pytest.raises(OutputExistsError, match="even with --force"):
        check_out(inp, force=True, inputs={"WORLD": inp})


@pytest.mark.parametrize("where", ["same", "inside", "around"])
def test_train_never_replaces_its_world(
    where: str, world_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = {"same": world_copy, "inside": world_copy / "m", "around": world_copy.parent}[where]
    line = refused(
        ["train", str(world_copy), "--preset", "tiny", "--out", str(out), "--force"],
        capsys,
        world_copy.parent,
    )
    assert line.startswith("behemoth: error: --out:") and "input WORLD" in line
    assert World.load(world_copy).fingerprint  # still a world


def test_exports_never_replace_their_input(
    world_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text("{}")
    for argv in (
        ["export-reference", str(world_copy), "--out", str(world_copy), "--force"],
        ["export-finetuning", str(world_copy), "--out", str(world_copy), "--force"],
        ["export-litgpt", str(model), "--out", str(model), "--force"],
        ["convert-litgpt", str(model), "--world", str(world_copy), "--out", str(model), "--force"],
        ["convert-litgpt", str(model), "--world", str(world_copy), "--out", str(world_copy / "x")],
        ["import-reference", str(world_copy), "--out", str(world_copy), "--force"],
        ["edit", str(model), "--scenario", "single", "--editor", "rome", "--out", str(model)],
    ):
        line = refused(argv, capsys, tmp_path)
        assert "--out:" in line and "the input" in line, argv


def test_newline_in_out_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = refused(
        ["generate", "--preset", "tiny", "--out", str(tmp_path / "a\nb")], capsys, tmp_path
    )
    assert "--out:" in line and "control characters" in line


# -- 1. report and demo: a folder that is not theirs --------------------------------------------


@pytest.fixture(scope="module")
def small_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = toy_spec_dict(
        scenarios={"single": {"name": "single"}},
        editors={"lora": {"name": "lora", "grid": {"rank": [1, 4]}}},
        seeds=[0],
    )
    out = tmp_path_factory.mktemp("sweeps") / "s"
    run_sweep(
        validate(SweepSpec, spec), out, backend=LocalBackend(0), run_fn=TOY_FN, progress=False
    )
    return out


def test_report_refuses_a_foreign_folder_and_keeps_its_files(
    small_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "thesis"
    (dest / "plots").mkdir(parents=True)
    (dest / "plots" / "thesis_figure.png").write_bytes(b"mine")
    (dest / "notes.txt").write_text("mine")
    line = refused(["report", str(small_sweep), "--out", str(dest)], capsys, tmp_path)
    assert "--out:" in line and "--force" in line
    assert main(["report", str(small_sweep), "--out", str(dest), "--force"]) == 0
    assert (dest / "plots" / "thesis_figure.png").read_bytes() == b"mine"
    assert (dest / "notes.txt").read_text() == "mine"
    assert (dest / "report.html").is_file()
    # a second report into its own folder needs no --force and still keeps the user's files
    assert main(["report", str(small_sweep), "--out", str(dest)]) == 0
    assert (dest / "plots" / "thesis_figure.png").read_bytes() == b"mine"


def test_report_removes_only_the_plots_it_wrote(small_sweep: Path, tmp_path: Path) -> None:
    from behemoth.report import write_report
    from behemoth.report.html import WRITTEN

    dest = tmp_path / "r"
    rep = write_report(small_sweep, dest)
    record = json.loads((dest / WRITTEN).read_text())
    assert {f"plots/{p.name}" for p in rep.plots} <= set(record["files"])
    stale = dest / "plots" / "gone.png"  # a plot an earlier report wrote and this one does not
    stale.write_bytes(b"old")
    (dest / WRITTEN).write_text(json.dumps({"files": [*record["files"], "plots/gone.png"]}))
    (dest / "plots" / "user.png").write_bytes(b"user")
    write_report(small_sweep, dest)
    assert not stale.exists() and (dest / "plots" / "user.png").read_bytes() == b"user"


def test_demo_refuses_a_foreign_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "d"
    dest.mkdir()
    (dest / "thesis.tex").write_text("mine")
    line = refused(["demo", "--quick", "--out", str(dest)], capsys, tmp_path)
    assert "--out:" in line and "--force" in line and "thesis.tex" in line
    line = refused(
        ["demo", "--quick", "--editors", "", "--out", str(tmp_path / "e")], capsys, tmp_path
    )
    assert line.startswith("behemoth: error: --editors:")
    line = refused(
        ["demo", "--quick", "--editors", "rome,,ft", "--out", str(tmp_path / "e")], capsys, tmp_path
    )
    assert line.startswith("behemoth: error: --editors:")


# -- 4. values that pass validation and produce garbage ---------------------------------------


@pytest.mark.parametrize(
    "over, field",
    [
        ({"train": {"lr": float("inf")}}, "train.lr"),
        ({"model": {"init_std": float("inf")}}, "model.init_std"),
        ({"train": {"grad_clip": float("nan")}}, "train.grad_clip"),
    ],
)
def test_every_float_setting_is_finite(over: dict[str, object], field: str) -> None:
    from behemoth.config import deep_merge
    from behemoth.errors import ConfigError
    from behemoth.model.config import RunConfig
    from behemoth.model.presets import model_preset

    with pytest.raises(ConfigError, match=rf"^{field}: input should be a finite number .*give a"):
        validate(RunConfig, deep_merge(model_preset("tiny"), over))


def test_inf_is_refused_on_the_command_line(
    tmp_path: Path, world_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for argv in (
        ["train", str(world_copy), "--preset", "tiny", "--train.lr", "inf"],
        ["train", str(world_copy), "--preset", "tiny", "--model.init_std", ".inf"],
        ["generate", "--preset", "tiny", "--world.inversion_frac", "nan"],
    ):
        line = refused([*argv, "--out", str(tmp_path / "o")], capsys, tmp_path)
        assert "finite" in line, line


def test_editor_floats_and_mom2_bound() -> None:
    from behemoth.editors import editor_config
    from behemoth.errors import ConfigError

    with pytest.raises(ConfigError, match="^v_lr: input should be a finite number"):
        editor_config("rome", {"v_lr": float("inf")})
    with pytest.raises(ConfigError, match="^mom2_n_tokens: .*less than or equal to 1000000000"):
        editor_config("rome", {"mom2_n_tokens": 1e15})
    assert editor_config("rome", {"mom2_n_tokens": 10**6}).mom2_n_tokens == 10**6


def test_training_never_saves_non_finite_weights(tiny_world: World, tmp_path: Path) -> None:
    from behemoth.errors import BehemothError
    from behemoth.model import model_preset, resolve_run, train_model
    from tests.cli.conftest import QUICK_TRAIN

    over = [QUICK_TRAIN[i] for i in range(1, len(QUICK_TRAIN), 2)] + ["train.lr=1e30"]
    cfg = resolve_run(model_preset("tiny"), None, over)
    out = tmp_path / "m"
    with pytest.raises(BehemothError, match=r"^train.lr: training diverged: .* not finite"):
        train_model(tiny_world, cfg, out, progress=False)
    assert not out.exists()


# -- 5. smaller items ---------------------------------------------------------------------------


def test_model_type_must_match_the_loader(tmp_path: Path) -> None:
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from behemoth.errors import BehemothError
    from behemoth.model.load import load_weights

    cfg = GPTNeoXConfig(
        vocab_size=32, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, max_position_embeddings=16,
    )  # fmt: skip
    GPTNeoXForCausalLM(cfg).save_pretrained(str(tmp_path / "m"))
    assert load_weights(tmp_path / "m", GPTNeoXForCausalLM) is not None
    c = json.loads((tmp_path / "m" / "config.json").read_text())
    (tmp_path / "m" / "config.json").write_text(json.dumps({**c, "model_type": "llama"}))
    with pytest.raises(BehemothError, match=r"^MODEL: .*model_type 'llama'.*gpt_neox"):
        load_weights(tmp_path / "m", GPTNeoXForCausalLM)


def test_duplicate_yaml_keys_are_refused(tmp_path: Path) -> None:
    from behemoth.config import load_yaml
    from behemoth.errors import ConfigError

    f = tmp_path / "c.yaml"
    f.write_text("subjects: 10\nrelations: 2\nsubjects: 20\n")
    with pytest.raises(ConfigError, match=r"^--config: .*c.yaml has the key 'subjects' twice"):
        load_yaml(f)
    f.write_text("train:\n  lr: 1\n  lr: 2\n")
    with pytest.raises(ConfigError, match="'lr' twice"):
        load_yaml(f)
    f.write_text("a: 1\nb: {a: 2}\n")  # the same name at other levels is fine
    assert load_yaml(f) == {"a": 1, "b": {"a": 2}}
    f.write_bytes(b"a: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"^--config: .* is not UTF-8 text"):
        load_yaml(f)


def test_export_finetuning_needs_an_edit(
    world_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for flag in ("-n", "--repeats"):
        line = refused(
            ["export-finetuning", str(world_copy), flag, "0", "--out", str(tmp_path / "o")],
            capsys,
            tmp_path,
        )
        assert "1 or more" in line and "no edits" in line


def test_huge_export_is_refused_with_its_size(tmp_path: Path) -> None:
    from behemoth.errors import BehemothError
    from behemoth.world.reference import export_reference
    from tests.conftest import make_world

    world = make_world(tmp_path, repeats=10**11)  # no shards: nothing large is written
    with pytest.raises(BehemothError, match=r"^--out: the export would write about [0-9,.]+ GB"):
        export_reference(world, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_demo_of_other_settings_is_refused(
    small_sweep: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "d"
    shutil.copytree(small_sweep, dest / "study")  # a study of another spec than the demo's
    line = refused(["demo", "--quick", "--out", str(dest)], capsys, tmp_path)
    assert "--out:" in line and "other settings" in line
