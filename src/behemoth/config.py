"""Typed, validated configuration: pydantic models loaded from YAML with ``--set`` overrides.

Every config class derives from :class:`StrictConfig`, which rejects unknown keys. Cross-field
rules live in ``model_validator``s that raise :class:`behemoth.errors.ConfigError`, so that the
CLI can print one line naming the field and the fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from types import UnionType
from typing import Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from behemoth.errors import ConfigError

C = TypeVar("C", bound="StrictConfig")
MAX_INT = 2**53


class StrictConfig(BaseModel):
    """Base for all configs: unknown keys rejected, values validated on assignment, every
    float finite (``inf`` passes ``gt=0`` and trains an all-NaN model: refused, with nan)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _strict_ints(cls, data: Any) -> Any:
        """Integers are integers: ``true`` is not 1 and 10**20 is no count, seed or size.

        pydantic's lax mode turns a bool into an int; YAML's ``--set subjects=true`` would then
        silently mean one subject. Values beyond 2**53 (where counts stop being exact in
        floats, and far beyond anything this machine can hold) are refused with the bound."""
        if not isinstance(data, dict):
            return data
        for name, value in data.items():
            field = cls.model_fields.get(name)
            if field is None:
                continue
            ann = field.annotation
            kinds = set(get_args(ann)) if get_origin(ann) in (Union, UnionType) else {ann}
            if bool in kinds or not kinds & {int, float}:
                continue
            if isinstance(value, bool):
                kind = "an integer" if int in kinds else "a number"
                raise ConfigError(name, f"expects {kind}, not {str(value).lower()}", f"give {kind}")
            if isinstance(value, int) and abs(value) > MAX_INT:
                raise ConfigError(
                    name,
                    f"{value} is beyond the largest allowed integer {MAX_INT}",
                    "give a smaller number",
                )
        return data

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        return validate(cls, data)

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        return validate(cls, load_yaml(path))


class _DuplicateKey(Exception):
    def __init__(self, key: Any, line: int) -> None:
        self.key, self.line = key, line


_LOADER: Any = None


def _unique_key_loader() -> Any:
    """yaml's SafeLoader, refusing a mapping that names one key twice (``_DuplicateKey``)."""
    global _LOADER
    if _LOADER is None:
        import yaml

        class UniqueKeyLoader(yaml.SafeLoader):
            def construct_mapping(self, node: Any, deep: bool = False) -> Any:
                seen: set[Any] = set()
                for key_node, _ in node.value:
                    key = self.construct_object(key_node, deep=True)
                    try:
                        duplicate = key in seen
                        seen.add(key)
                    except TypeError:  # an unhashable key: the base class refuses it
                        continue
                    if duplicate:
                        raise _DuplicateKey(key, key_node.start_mark.line + 1)
                return super().construct_mapping(node, deep=deep)

        _LOADER = UniqueKeyLoader
    return _LOADER


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping, with one-line errors for a missing or malformed file."""
    import yaml  # here, not at the top: commands given no YAML never pay for the import

    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            "--config", f"file {str(p)!r} does not exist", "give the path of a YAML file"
        )
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            "--config", f"{p} is not UTF-8 text (byte {e.start})", "give a YAML text file"
        ) from None
    except OSError as e:
        raise ConfigError(
            "--config", f"{p} cannot be read ({e.strerror or e})", "give a readable YAML file"
        ) from None
    try:
        data = yaml.load(text, Loader=_unique_key_loader())
    except _DuplicateKey as e:
        raise ConfigError(
            "--config",
            f"{p} has the key {e.key!r} twice (line {e.line}; YAML would keep the last silently)",
            "keep one of them",
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(
            "--config", f"{p} is not valid YAML{where}", "fix the YAML syntax"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            "--config", f"{p} must hold a mapping of keys to values", "write key: value lines"
        )
    return data


#: Values YAML would read as a plain decimal integer or a lower-case boolean, read without it.
_PLAIN_INT = re.compile(r"-?(0|[1-9][0-9]*)")
_PLAIN_BOOL = {"true": True, "false": False}


def parse_value(raw: str) -> Any:
    """One ``--set`` value as YAML reads it (a string if it is not valid YAML). Decimal
    integers and ``true``/``false`` are read directly, with the value YAML gives them: most
    overrides are such, and importing the YAML parser costs ~0.03 s of CPU time, 5% of
    ``behemoth generate``'s start-up."""
    if raw == "":
        return ""
    if _PLAIN_INT.fullmatch(raw):
        return int(raw)
    if raw in _PLAIN_BOOL:
        return _PLAIN_BOOL[raw]
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw


def parse_overrides(pairs: list[str] | None) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings (values parsed as YAML, dotted keys nest) into a dict."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(
                "--set", f"{pair!r} is not KEY=VALUE", "write e.g. --set subjects=500"
            )
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(
                "--set", f"{pair!r} has an empty key", "write e.g. --set subjects=500"
            )
        value = parse_value(raw)
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _model_at(cls: type[BaseModel], path: tuple[int | str, ...]) -> type[BaseModel]:
    """The (nested) config class at ``path`` in ``cls``: an unknown key of a sub-config is
    answered with that sub-config's keys. Stops where the path leaves config classes."""
    import typing

    for part in path:
        field = cls.model_fields.get(str(part))
        if field is None:
            break
        inner = [field.annotation, *typing.get_args(field.annotation)]
        nested = [t for t in inner if isinstance(t, type) and issubclass(t, BaseModel)]
        if not nested:
            break
        cls = nested[0]
    return cls


def validate(cls: type[C], data: dict[str, Any]) -> C:
    """Build ``cls`` from ``data``; turn pydantic's report into a one-line ConfigError."""
    try:
        return cls.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or cls.__name__
        if err["type"] == "extra_forbidden":
            import difflib

            known = list(_model_at(cls, err["loc"][:-1]).model_fields)
            hint = difflib.get_close_matches(str(err["loc"][-1]), known, n=1)
            fix = f"did you mean {hint[0]!r}?" if hint else f"known keys: {', '.join(known)}"
            raise ConfigError(loc, "unknown key", fix) from None
        ctx = err.get("ctx") or {}
        inner = ctx.get("error")
        if isinstance(inner, ConfigError):
            if loc != cls.__name__ and not inner.field.startswith(f"{loc}."):
                raise ConfigError(f"{loc}.{inner.field}", inner.problem, inner.fix) from None
            raise inner from None
        got = err.get("input")
        got_s = f" (got {got!r})" if not isinstance(got, dict) else ""
        fix = "give a finite number" if err["type"] == "finite_number" else "change this value"
        raise ConfigError(loc, f"{err['msg'].lower()}{got_s}", fix) from None


def resolve(
    cls: type[C],
    preset: dict[str, Any] | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | None = None,
    seed: int | None = None,
) -> C:
    """Preset, then YAML file, then ``--set`` overrides, then ``--seed``: later wins."""
    data: dict[str, Any] = dict(preset or {})
    if config_file is not None:
        data = deep_merge(data, load_yaml(config_file))
    data = deep_merge(data, parse_overrides(overrides))
    if seed is not None:
        data["seed"] = seed
    return validate(cls, data)


_T = TypeVar("_T")


def located(where: str, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)``; a ConfigError about one of its fields is renamed ``where.field``, so the
    message points into the config that held the bad value (``editor.rank``,
    ``editors.lora.rank``). A field already named from the command line (``--editor``) stays."""
    try:
        return fn(*args)
    except ConfigError as e:
        if e.field.startswith(f"--{where}"):
            raise
        raise ConfigError(f"{where}.{e.field.lstrip('-')}", e.problem, e.fix) from None
