"""Edit scenarios: edit requests and their test sets, built from a world.

``build_scenario(world, name, overrides, seed)`` runs a registered builder (``single``,
``k-different``, ``k-identical``, ``stream``, ``refusal``, ``forget-relation``, ``nested-ono``);
``export_jsonl`` / ``load_jsonl`` convert a scenario to and from the reference's instruction
JSONL. Every scenario carries ``editor_facts`` and ``retain``, disjoint from its tests;
``check_editor_inputs`` enforces that for anything an editor builds.
"""

from behemoth.scenarios.jsonl import export_jsonl, export_probes, load_jsonl
from behemoth.scenarios.request import EditRequest
from behemoth.scenarios.scenario import (
    Scenario,
    ScenarioConfig,
    build_scenario,
    get_scenario,
    register_scenario,
    scenario_names,
)
from behemoth.scenarios.split import EditorInputLeak, check_editor_inputs
from behemoth.scenarios.testset import TestSet

__all__ = [
    "EditorInputLeak",
    "EditRequest",
    "Scenario",
    "ScenarioConfig",
    "TestSet",
    "build_scenario",
    "check_editor_inputs",
    "export_jsonl",
    "export_probes",
    "get_scenario",
    "load_jsonl",
    "register_scenario",
    "scenario_names",
]
