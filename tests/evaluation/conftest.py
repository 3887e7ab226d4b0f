"""World variants shared with the scenario tests."""

from tests.scenarios.conftest import corr_world, nested_world, nonsense_world, q_world

__all__ = ["corr_world", "nested_world", "nonsense_world", "q_world"]
