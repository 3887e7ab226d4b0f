"""``ExperimentConfig.oracle``: opt-in, and out of the run id while off (the refusal on a
scenario that forgets nothing: tests/cli/test_edit_oracle.py)."""

from __future__ import annotations

import pytest

from behemoth.errors import ConfigError
from behemoth.experiments.config import ExperimentConfig


def _cfg(**kw: object) -> ExperimentConfig:
    base: dict[str, object] = {"model": "m", "scenario": "stream", "editor": "rome"}
    base.update(kw)
    return ExperimentConfig.from_dict(base)


def test_run_ids_of_existing_configs_are_unchanged() -> None:
    # the ids main gave these configs before the oracle option existed (computed at 45a860d)
    assert _cfg().run_id() == "215453f2e111"
    npo = {"scenario": "forget-relation", "editor": "npo", "seeds": [0, 1]}
    assert _cfg(**npo).run_id() == "9219bb833124"
    # spelled out at their defaults (or the replicate count without the oracle): the same run
    assert _cfg(oracle=False).run_id() == "215453f2e111"
    assert _cfg(oracle=False, oracle_replicates=3).run_id() == "215453f2e111"


def test_oracle_is_a_different_run() -> None:
    a = _cfg(scenario="forget-relation", editor="npo", oracle=True)
    assert a.run_id() != _cfg(scenario="forget-relation", editor="npo").run_id()
    assert a.run_id() != a.with_settings(oracle_replicates=3).run_id()
    assert a.resolved()["oracle"] is True


@pytest.mark.parametrize("bad", [0, 11, "two"])
def test_oracle_replicates_is_checked(bad: object) -> None:
    with pytest.raises(ConfigError, match="oracle_replicates"):
        _cfg(oracle=True, oracle_replicates=bad)
