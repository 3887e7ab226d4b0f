"""One edit request: a fact (prompt ids) and the answer it should now have.

Shared by scenarios (which build requests from a world), editors (which apply them) and the
evaluation suite (which checks them). Token-level, so nothing ever parses text.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EditRequest:
    """Change the answer of ``prompt`` from ``target_old`` to ``target_new``.

    ``prompt`` is a probe prompt: end-of-text, then the sentence up to and including ``OO``; the
    model's next token is the answer. ``subject_span`` is [start, end) of the subject's tokens
    in ``prompt`` (ROME's key is read at ``subject_span[1] - 1``, the subject's last token).
    Indices (``subject``, ``relation``, ``old_object``, ``new_object``) locate the edge in the
    world's graph; ``kind`` is "S-O" or "O-NO" (an O-NO edit has subject -1 and the edited
    object in ``old_object``'s relation vocabulary as its subject slot). A refusal edit has
    ``new_object == -1`` and ``target_new`` is the refusal filler token.
    """

    prompt: tuple[int, ...]
    target_new: int
    target_old: int
    subject_span: tuple[int, int]
    subject: int
    relation: int
    old_object: int
    new_object: int
    kind: str = "S-O"
    template: str = "sro"

    @property
    def subject_last(self) -> int:
        """Position in ``prompt`` of the subject's last token."""
        return self.subject_span[1] - 1
