"""The world's configuration: names follow the reference generator's options.

Cross-field rules mirror the combinations the reference rejects (and the ones it crashes on),
each with a one-line message naming the field and the fix.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from behemoth.config import StrictConfig
from behemoth.errors import ConfigError

BaseTemplate = Literal["sro", "simple_repeats", "nonsense"]

#: Fields of :class:`ExposureConfig` that only one ``kind`` reads.
_KIND_FIELDS = {"a": "zipf", "head_share": "head_tail", "head_repeats": "head_tail"}
_KIND_FIELDS["tail_repeats"] = "head_tail"
FIXED_FIX = "give a list of [subject, relation, count] entries"


def _check_fixed(value: Any) -> None:
    """``fixed``: a list of [subject, relation, count] integer triples (one line otherwise)."""
    if not isinstance(value, list):
        raise ConfigError("fixed", f"{value!r} is not a list", FIXED_FIX)
    for entry in value:
        ok = isinstance(entry, (list, tuple)) and len(entry) == 3
        if not ok or not all(isinstance(x, int) and not isinstance(x, bool) for x in entry):
            raise ConfigError("fixed", f"entry {entry!r} is not three integers", FIXED_FIX)


class ExposureConfig(StrictConfig):
    """How often each S-O fact is written per corpus pass (issue 25); the counts themselves
    are a pure function in :mod:`behemoth.world.exposure`.

    ``uniform``: every fact ``repeats`` times (the worlds before the option, byte for byte).
    ``zipf``: a fact's count is proportional to ``rank ** -a``, where the rank is that of its
    unit (its subject, its relation, or the fact itself: ``over``) in a seeded random order,
    scaled so that the mean count over facts is exactly ``repeats``, never below
    ``min_repeats``. ``head_tail``: the first ``head_share`` of the units in that order are
    written ``head_repeats`` times, the rest ``tail_repeats`` times (``repeats`` is then not
    read for S-O facts). ``fixed`` then overrides single facts: ``[subject, relation, count]``
    each; a count of 0 leaves the fact out of the corpus, while its probes stay (an unseen-fact
    control). O-NO edges and questions keep their uniform counts (see the exposure module).
    """

    kind: Literal["uniform", "zipf", "head_tail"] = Field(
        "uniform", description="Distribution of per-fact repeat counts."
    )
    over: Literal["subjects", "relations", "facts"] = Field(
        "facts", description="Unit that is ranked (zipf, head_tail): its facts share a count."
    )
    a: float = Field(1.0, gt=0.0, description="Zipf exponent: count ~ rank^-a.")
    head_share: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of the units that are head (head_tail)."
    )
    head_repeats: int = Field(0, ge=0, description="Count of a head unit's facts (head_tail).")
    tail_repeats: int = Field(0, ge=0, description="Count of a tail unit's facts (head_tail).")
    min_repeats: int = Field(1, ge=1, description="Least count of any fact (zipf, head_tail).")
    fixed: list[tuple[int, int, int]] = Field(
        default_factory=list,
        description="[subject, relation, count] overrides of single facts (count >= 0).",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """An unknown key named with this sub-config's own keys (the generic message would
        list the world's); ``fixed`` entries checked whole."""
        if isinstance(data, dict):
            for key in data:
                if key not in cls.model_fields:
                    import difflib

                    hint = difflib.get_close_matches(str(key), list(cls.model_fields), n=1)
                    fix = (
                        f"did you mean {hint[0]!r}?"
                        if hint
                        else "known keys: " + ", ".join(cls.model_fields)
                    )
                    raise ConfigError(str(key), "unknown key", fix)
            _check_fixed(data.get("fixed", []))
        return data

    @model_validator(mode="after")
    def _check(self) -> ExposureConfig:
        for name, kind in _KIND_FIELDS.items():
            if name in self.model_fields_set and self.kind != kind:
                raise ConfigError(
                    name, f"only applies to kind={kind} (kind is {self.kind})", f"drop {name}"
                )
        for name in ("over", "min_repeats"):
            if name in self.model_fields_set and self.kind == "uniform":
                raise ConfigError(
                    name, "only applies to kind=zipf or head_tail (kind is uniform)", f"drop {name}"
                )
        if self.kind == "head_tail":
            for name in ("head_repeats", "tail_repeats"):
                if getattr(self, name) < self.min_repeats:
                    raise ConfigError(
                        name,
                        f"{getattr(self, name)} is below min_repeats={self.min_repeats}",
                        f"set {name} to {self.min_repeats} or more",
                    )
        seen: set[tuple[int, int]] = set()
        for s, r, count in self.fixed:
            if s < 0 or r < 0 or count < 0:
                raise ConfigError(
                    "fixed",
                    f"[{s}, {r}, {count}] has a negative entry",
                    FIXED_FIX + ", each >= 0",
                )
            if (s, r) in seen:
                raise ConfigError(
                    "fixed", f"fact [{s}, {r}] is listed twice", "keep one count per fact"
                )
            seen.add((s, r))
        return self

    @model_serializer(mode="wrap")
    def _only_used_fields(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Written without the fields its kind does not read (they would be refused back)."""
        data: dict[str, Any] = handler(self)
        for name, kind in _KIND_FIELDS.items():
            if self.kind != kind:
                data.pop(name, None)
        if self.kind == "uniform":
            data.pop("over", None)
            data.pop("min_repeats", None)
        return data

    @property
    def is_default(self) -> bool:
        """Whether this is the default (uniform, nothing fixed): left out of a world's config
        dict, so that worlds and runs from before the option keep their files and ids."""
        return self == ExposureConfig.model_validate({})


def _default_exposure() -> ExposureConfig:
    return ExposureConfig.model_validate({})


class WorldConfig(StrictConfig):
    """A world of (subject, relation, object) facts and the corpus that states them."""

    seed: int = Field(0, ge=0, description="Root seed; every random choice derives from it.")
    subjects: int = Field(1000, description="Number of subjects S.")
    relations: int = Field(4, description="Number of relations R.")
    objects: int = Field(
        50, description="Objects per relation O (separate vocabulary per relation)."
    )
    repeats: int = Field(500, description="Times each fact is written in the corpus.")
    shuffle: bool = Field(
        True, description="One fact per document, globally shuffled; false = biography documents."
    )
    template: BaseTemplate = Field("sro", description="Base sentence grammar (phrase creator).")
    inversion_frac: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of sentences in SOR/OSR/RSO order (sro, nonsense)."
    )
    correlated_pair: bool = Field(False, description="Relation 1 copies relation 0's object index.")
    correlation_strength: float = Field(
        1.0, ge=0.0, le=1.0, description="P(relation 1 object == relation 0 object)."
    )
    binarize_first: bool = Field(False, description="Relation 0 takes objects 0/1 only.")
    nested_objects: int = Field(
        0, ge=0, description="M nested objects per relation (0 = off); M must divide objects."
    )
    nested_upweight: int = Field(
        1, ge=1, description="Times each O-NO edge is repeated per repeat."
    )
    minority_entity_frac: float = Field(
        0.0, ge=0.0, le=1.0, description="Share of edges that have a dissenting minority object."
    )
    minority_frac: float = Field(
        0.1, ge=0.0, le=1.0, description="P(a sentence of such an edge uses the minority object)."
    )
    questions_frac: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Questions per S-O statement, as in the reference (qf/(1+qf) of all sentences).",
    )
    questions_entity_frac: float = Field(
        0.5, ge=0.0, le=1.0, description="Share of subjects whose facts also appear as questions."
    )
    max_subject_words: int = Field(
        1000,
        ge=2,
        description="Words per subject token position; more subjects use several tokens.",
    )
    vocab: Literal["behemoth", "reference"] = Field(
        "behemoth",
        description="Token ids: behemoth's own layout, or the reference generator's (4-digit "
        "words whose token ids equal their numbers; see behemoth.world.reference_vocab).",
    )
    shard_units: int = Field(1 << 23, ge=1, description="Corpus documents per written token shard.")
    exposure: ExposureConfig = Field(
        default_factory=_default_exposure,
        description="Per-fact repeat counts (uniform: every fact `repeats` times).",
    )

    @model_serializer(mode="wrap")
    def _drop_default_exposure(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """The default exposure is not written: configs, world files, fingerprints and run ids
        stay those of worlds made before the option existed."""
        data: dict[str, Any] = handler(self)
        if self.exposure.is_default:
            data.pop("exposure", None)
        return data

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        for name in ("subjects", "relations", "objects", "repeats"):
            if getattr(self, name) <= 0:
                raise ConfigError(
                    name,
                    f"must be a positive integer (got {getattr(self, name)})",
                    f"set {name} to 1 or more",
                )
        m = self.nested_objects
        if m and self.objects % m:
            raise ConfigError(
                "nested_objects",
                f"{m} does not divide objects={self.objects}",
                "choose nested_objects as a divisor of objects",
            )
        if self.correlated_pair:
            if self.relations < 2:
                raise ConfigError(
                    "relations",
                    "correlated_pair needs at least 2 relations",
                    "set relations >= 2 or correlated_pair=false",
                )
            if self.objects < 2:
                raise ConfigError(
                    "objects",
                    "correlated_pair needs at least 2 objects per relation",
                    "set objects >= 2 or correlated_pair=false",
                )
            chance = 0.5 if self.binarize_first else 1.0 / self.objects
            if self.correlation_strength <= chance:
                raise ConfigError(
                    "correlation_strength",
                    f"{self.correlation_strength} is at or below chance ({chance:.3g}): it makes an anti-correlation",
                    f"set correlation_strength above {chance:.3g}",
                )
            if self.minority_entity_frac > 0:
                raise ConfigError(
                    "minority_entity_frac",
                    "minority objects cannot be combined with correlated_pair",
                    "set minority_entity_frac=0 or correlated_pair=false",
                )
        elif self.binarize_first:
            raise ConfigError(
                "binarize_first",
                "only applies to a correlated pair",
                "set correlated_pair=true or binarize_first=false",
            )
        if self.minority_entity_frac > 0:
            if m:
                raise ConfigError(
                    "minority_entity_frac",
                    "minority objects cannot be combined with nested_objects",
                    "set minority_entity_frac=0 or nested_objects=0",
                )
            if self.objects < 2:
                raise ConfigError(
                    "objects",
                    "a minority object needs at least 2 objects per relation",
                    "set objects >= 2",
                )
        if self.questions_frac > 0 and self.questions_entity_frac <= 0:
            raise ConfigError(
                "questions_entity_frac",
                "questions_frac > 0 but no subject is given questions",
                "set questions_entity_frac > 0 or questions_frac=0",
            )
        if self.questions_frac > 0 and round(self.questions_entity_frac * self.subjects) == 0:
            raise ConfigError(
                "questions_entity_frac",
                f"{self.questions_entity_frac} of {self.subjects} subjects rounds to no question subject",
                "raise questions_entity_frac or subjects, or set questions_frac=0",
            )
        if self.questions_frac > 0 and self.questions_frac > self.questions_entity_frac:
            raise ConfigError(
                "questions_frac",
                f"{self.questions_frac} exceeds questions_entity_frac="
                f"{self.questions_entity_frac}: more questions than question subjects can hold",
                "lower questions_frac or raise questions_entity_frac",
            )
        if self.vocab == "reference":
            for name in ("relations", "objects", "nested_objects"):
                if getattr(self, name) >= 1000:
                    raise ConfigError(
                        name,
                        f"{getattr(self, name)} words would take two tokens each in the "
                        "reference's layout, which writes them as one",
                        f"set {name} below 1000 or vocab=behemoth",
                    )
            if self.subjects > 1_000_000:
                raise ConfigError(
                    "subjects",
                    "the reference's layout writes at most 10^6 subjects",
                    "lower subjects or set vocab=behemoth",
                )
        self._check_exposure()
        if self.template == "simple_repeats" and self.inversion_frac > 0:
            raise ConfigError(
                "inversion_frac",
                "the simple_repeats template has no inversions",
                "set inversion_frac=0 or template=sro",
            )
        return self

    def _check_exposure(self) -> None:
        e = self.exposure
        if e.kind == "zipf" and e.min_repeats > self.repeats:
            raise ConfigError(
                "exposure.min_repeats",
                f"{e.min_repeats} exceeds repeats={self.repeats}: the mean count cannot be repeats",
                "lower exposure.min_repeats or raise repeats",
            )
        for s, r, _ in e.fixed:
            if s >= self.subjects or r >= self.relations:
                raise ConfigError(
                    "exposure.fixed",
                    f"fact [{s}, {r}] is outside {self.subjects} subjects x {self.relations} "
                    "relations",
                    "give subject < subjects and relation < relations",
                )
        if not e.is_default and self.vocab == "reference":
            raise ConfigError(
                "exposure",
                "the reference generator writes every fact `repeats` times",
                "drop exposure or set vocab=behemoth",
            )

    @property
    def question_repeats(self) -> int:
        """Question sentences per fact of a question subject (the reference's q_repeats)."""
        if self.questions_frac <= 0:
            return 0
        return max(1, round(self.repeats * self.questions_frac / self.questions_entity_frac))
