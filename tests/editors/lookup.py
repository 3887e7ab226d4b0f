"""A wrapper editor written only for the tests: a lookup table of edits.

Its memory holds each edit's prompt (padded with -1) and new target. The wrapper answers a row
whose tokens are an edited prompt with that edit's target at the last position (its logit set
above every other), and passes everything else through from the untouched base model.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from behemoth.editors import EditContext, EditorConfig, EditWrapper, WrapperEditor
from behemoth.scenarios.request import EditRequest


class LookupWrapper(EditWrapper):
    editor: ClassVar[str] = "lookup"

    def is_empty(self) -> bool:
        return self.memory["targets"].numel() == 0

    def respond(self, input_ids: torch.Tensor, base_output: Any) -> Any:
        logits = base_output.logits.clone()
        prompts, targets = self.memory["prompts"], self.memory["targets"]
        T = input_ids.shape[1]
        if prompts.shape[1] < T:
            return base_output
        # a stored prompt of exactly T tokens equal to the row
        same = (prompts[None, :, :T] == input_ids[:, None, :]).all(-1)  # [rows, edits]
        if prompts.shape[1] > T:
            same &= prompts[None, :, T] == -1
        for row, edit in torch.nonzero(same).tolist():
            top = logits[row, -1].max()
            logits[row, -1, int(targets[edit])] = top + 10.0
        return type(base_output)(**{**base_output, "logits": logits})


class LookupEditor(WrapperEditor):
    name = "lookup"
    Config = EditorConfig
    Wrapper = LookupWrapper

    def empty_memory(self, base: torch.nn.Module) -> dict[str, torch.Tensor]:
        return {
            "prompts": torch.full((0, 1), -1, dtype=torch.long),
            "targets": torch.zeros(0, dtype=torch.long),
        }

    def _remember(
        self,
        base: torch.nn.Module,
        memory: dict[str, torch.Tensor],
        requests: list[EditRequest],
        context: EditContext,
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        old = memory["prompts"]
        width = max([old.shape[1], *(len(r.prompt) for r in requests)])
        prompts = torch.full((old.shape[0] + len(requests), width), -1, dtype=torch.long)
        prompts[: old.shape[0], : old.shape[1]] = old
        for i, r in enumerate(requests):
            prompts[old.shape[0] + i, : len(r.prompt)] = torch.tensor(r.prompt)
        targets = torch.cat([memory["targets"], torch.tensor([r.target_new for r in requests])])
        return {"prompts": prompts, "targets": targets}, {"edits": int(targets.numel())}
