"""WorldConfig: every invalid combination is a ConfigError naming the field and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from behemoth.config import resolve
from behemoth.errors import ConfigError
from behemoth.world import WorldConfig
from behemoth.world.presets import world_preset, world_presets

TINY = world_preset("tiny")


def make(**over: object) -> WorldConfig:
    return WorldConfig.from_dict({**TINY, **over})


CORR = {"correlated_pair": True, "correlation_strength": 0.9}

#: (id, overrides, field the error must name)
INVALID = [
    ("subjects-zero", {"subjects": 0}, "subjects"),
    ("subjects-negative", {"subjects": -3}, "subjects"),
    ("relations-zero", {"relations": 0}, "relations"),
    ("objects-negative", {"objects": -1}, "objects"),
    ("repeats-zero", {"repeats": 0}, "repeats"),
    ("subjects-not-int", {"subjects": "many"}, "subjects"),
    ("nested-not-divisor", {"objects": 20, "nested_objects": 3}, "nested_objects"),
    ("nested-larger-than-objects", {"objects": 20, "nested_objects": 40}, "nested_objects"),
    ("nested-negative", {"nested_objects": -2}, "nested_objects"),
    (
        "corr-at-chance",
        {**CORR, "objects": 20, "correlation_strength": 0.05},
        "correlation_strength",
    ),
    (
        "corr-below-chance",
        {**CORR, "objects": 20, "correlation_strength": 0.01},
        "correlation_strength",
    ),
    ("corr-zero", {**CORR, "correlation_strength": 0.0}, "correlation_strength"),
    (
        "corr-binarized-at-chance",
        {**CORR, "binarize_first": True, "correlation_strength": 0.5},
        "correlation_strength",
    ),
    (
        "corr-binarized-below-chance",
        {**CORR, "binarize_first": True, "correlation_strength": 0.3},
        "correlation_strength",
    ),
    ("corr-above-one", {**CORR, "correlation_strength": 1.5}, "correlation_strength"),
    ("corr-one-relation", {**CORR, "relations": 1}, "relations"),
    ("corr-one-object", {**CORR, "objects": 1}, "objects"),
    (
        "minority-with-nested",
        {"nested_objects": 4, "minority_entity_frac": 0.1},
        "minority_entity_frac",
    ),
    ("minority-with-correlated", {**CORR, "minority_entity_frac": 0.1}, "minority_entity_frac"),
    ("minority-one-object", {"objects": 1, "minority_entity_frac": 0.1}, "objects"),
    ("minority-frac-above-one", {"minority_entity_frac": 1.2}, "minority_entity_frac"),
    (
        "questions-no-subjects",
        {"questions_frac": 0.2, "questions_entity_frac": 0.0},
        "questions_entity_frac",
    ),
    (
        "questions-subjects-round-to-none",
        {"subjects": 1, "questions_frac": 0.2, "questions_entity_frac": 0.3},
        "questions_entity_frac",
    ),
    (
        "questions-more-than-subjects",
        {"questions_frac": 0.6, "questions_entity_frac": 0.5},
        "questions_frac",
    ),
    (
        "simple-repeats-inverted",
        {"template": "simple_repeats", "inversion_frac": 0.3},
        "inversion_frac",
    ),
    ("inversion-above-one", {"inversion_frac": 1.01}, "inversion_frac"),
    ("binarize-without-pair", {"binarize_first": True}, "binarize_first"),
    ("unknown-template", {"template": "sor"}, "template"),
    ("max-subject-words-one", {"max_subject_words": 1}, "max_subject_words"),
    ("seed-negative", {"seed": -1}, "seed"),
]


@pytest.mark.parametrize(("over", "field"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_combination_names_the_field(over: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        make(**over)
    assert err.value.field == field
    msg = str(err.value)
    assert msg.startswith(f"{field}: ")
    assert "\n" not in msg
    assert err.value.fix  # the message says how to fix it


#: Values just on the valid side of each rule above: the rules are not stricter than stated.
VALID = [
    {"subjects": 1, "relations": 1, "objects": 1, "repeats": 1},
    {"objects": 20, "nested_objects": 20},
    {"objects": 20, "nested_objects": 1},
    {**CORR, "objects": 20, "correlation_strength": 0.051},
    {**CORR, "binarize_first": True, "correlation_strength": 0.51},
    {**CORR, "relations": 2, "objects": 2, "correlation_strength": 0.6},
    {"minority_entity_frac": 1.0, "minority_frac": 1.0, "objects": 2},
    {"questions_frac": 0.5, "questions_entity_frac": 0.5},
    {"questions_frac": 0.0, "questions_entity_frac": 0.0},
    {"template": "simple_repeats", "inversion_frac": 0.0},
    {"template": "nonsense", "inversion_frac": 0.5},
]


@pytest.mark.parametrize("over", VALID)
def test_boundary_values_accepted(over: dict[str, object]) -> None:
    cfg = make(**over)
    for k, v in over.items():
        assert getattr(cfg, k) == v


def test_unknown_key_suggests_the_known_one() -> None:
    with pytest.raises(ConfigError) as err:
        make(subject=10)
    assert err.value.field == "subject"
    assert "did you mean 'subjects'?" in str(err.value)
    with pytest.raises(ConfigError, match="did you mean 'correlation_strength'"):
        make(corelation_strength=0.9)


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    with pytest.raises(ConfigError) as err:
        make(zzzz=1)
    assert "subjects" in err.value.fix and "repeats" in err.value.fix


def test_malformed_yaml_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("subjects: 10\nrelations: [1, 2\nobjects: 5\n")
    with pytest.raises(ConfigError) as err:
        resolve(WorldConfig, TINY, bad)
    assert err.value.field == "--config"
    assert "not valid YAML at line" in str(err.value)


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n"])
def test_yaml_that_is_not_a_mapping(tmp_path: Path, text: str) -> None:
    f = tmp_path / "list.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as err:
        resolve(WorldConfig, None, f)
    assert err.value.field == "--config"


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve(WorldConfig, None, tmp_path / "nope.yaml")


def test_bad_value_in_yaml_file_names_the_key(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("subjects: 100\nrelations: 4\nobjects: 20\nnested_objects: 7\n")
    with pytest.raises(ConfigError) as err:
        resolve(WorldConfig, None, f)
    assert err.value.field == "nested_objects"


def test_resolution_order_preset_file_set_seed(tmp_path: Path) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("subjects: 70\nobjects: 10\nseed: 5\n")
    cfg = resolve(WorldConfig, TINY, f, ["objects=12", "shuffle=false"], None)
    assert (cfg.subjects, cfg.objects, cfg.relations, cfg.shuffle, cfg.seed) == (
        70,
        12,
        TINY["relations"],
        False,
        5,
    )
    assert resolve(WorldConfig, TINY, f, ["seed=6"], 9).seed == 9


@pytest.mark.parametrize("bad", ["subjects", "=3"])
def test_malformed_override(bad: str) -> None:
    with pytest.raises(ConfigError) as err:
        resolve(WorldConfig, TINY, None, [bad])
    assert err.value.field == "--set"


@pytest.mark.parametrize("name", world_presets())
def test_every_preset_is_valid(name: str) -> None:
    cfg = WorldConfig.from_dict(world_preset(name))
    assert cfg.subjects > 0


def test_required_presets_exist() -> None:
    assert {"tiny", "demo", "paper", "correlated", "nested"} <= set(world_presets())
    paper = WorldConfig.from_dict(world_preset("paper"))
    assert (paper.subjects, paper.relations, paper.objects, paper.repeats) == (100_000, 6, 400, 500)


def test_unknown_preset_hint() -> None:
    with pytest.raises(ConfigError) as err:
        world_preset("tinny")
    assert err.value.field == "--preset"
    assert "did you mean 'tiny'?" in str(err.value)
    with pytest.raises(ConfigError, match="choose one of"):
        world_preset("qqqqqqqq")


def test_question_repeats_follow_the_reference() -> None:
    # q_repeats = repeats / questions_entity_frac * questions_frac (create_data.py)
    assert make(questions_frac=0.2, questions_entity_frac=0.5, repeats=50).question_repeats == 20
    assert make(questions_frac=0.0).question_repeats == 0


def test_config_round_trips_through_dict_and_yaml(tmp_path: Path) -> None:
    cfg = make(nested_objects=4, inversion_frac=0.2, seed=3)
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg
    f = tmp_path / "c.yaml"
    f.write_text(cfg.to_yaml())
    assert WorldConfig.from_yaml(f) == cfg


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "7",
        "-12",
        "100000",
        "true",
        "false",
        "-0",
        "007",
        "0x1F",
        "+5",
        "1_000",
        "1e3",
        "1.5",
        "True",
        "yes",
        "off",
        "null",
        "~",
        "sro",
        "[1, 2]",
        "{a: 1}",
        "'3'",
        "a: b: c",
        "",
    ],
)
def test_set_values_read_as_yaml_reads_them(raw: str) -> None:
    """The fast path for plain integers and booleans gives exactly YAML's value and type."""
    import yaml

    from behemoth.config import parse_value

    try:
        want = yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        want = raw
    got = parse_value(raw)
    assert got == want and type(got) is type(want)
