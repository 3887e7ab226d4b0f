"""The world: a graph of facts, its tokenizer, its corpus (streamed or sharded) and probes."""

from behemoth.world.config import WorldConfig
from behemoth.world.graph import Graph, sample_graph
from behemoth.world.presets import world_preset, world_presets
from behemoth.world.probes import ProbeSet
from behemoth.world.vocab import Vocabulary
from behemoth.world.world import World, generate_world

__all__ = [
    "Graph",
    "ProbeSet",
    "Vocabulary",
    "World",
    "WorldConfig",
    "generate_world",
    "sample_graph",
    "world_preset",
    "world_presets",
]
