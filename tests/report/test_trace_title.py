"""The trace plot's title (src/behemoth/analysis/trace_plot.py): never cut off or covered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from behemoth.analysis.trace_plot import plot_trace


@pytest.mark.parametrize("layers", [2, 4, 12])
def test_trace_title_fits_inside_the_figure(
    layers: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}
    real = Figure.savefig

    def capture(self: Figure, *a: Any, **k: Any) -> None:
        real(self, *a, **k)
        renderer = self.canvas.get_renderer()  # type: ignore[attr-defined]
        title = self.get_suptitle()
        text = next(t for t in self.texts if t.get_text() == title)
        seen["title"] = title
        seen["box"] = text.get_window_extent(renderer)
        seen["fig"] = self.bbox
        seen["axes"] = [ax.get_window_extent(renderer) for ax in self.axes]

    monkeypatch.setattr(Figure, "savefig", capture)
    title = "relation 0: 20 facts, P clean 0.954, corrupted 0.227"
    effect = np.linspace(0, 1, 6 * layers).reshape(6, layers)
    plot_trace(effect, list("abcdef"), tmp_path / "t.png", title=title)
    assert seen["title"].replace("\n", " ") == title  # every word kept, 0.227 included
    box, fig = seen["box"], seen["fig"]
    assert box.x0 >= fig.x0 and box.x1 <= fig.x1 and box.y1 <= fig.y1  # nothing cut off
    assert all(not box.overlaps(ax) for ax in seen["axes"])  # nothing covers it
