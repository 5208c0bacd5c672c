"""Check a ``verm`` section against the schema and hand back the typed :class:`VermConfig`.

An unknown key names the key and lists the valid keys of its section (with the nearest one); a name that is
not one of its choices lists the valid names; a wrong type says which key and what it got. Used where a
config enters the program: the recipe's ``check_config`` (after Hydra composes), its override pre-check
(before Hydra composes), and the reward factory.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import (
    ConfigAttributeError,
    ConfigKeyError,
    MissingMandatoryValue,
    OmegaConfBaseException,
    ValidationError,
)

from verm_rl.config.schema import JUDGE_SETTING_KEYS, Choice, JudgeSettings, Range, VermConfig

T = TypeVar("T")
ROOT = "verm"


class ConfigError(ValueError):
    """A config that is not valid: the message names the key and lists what is valid."""


def valid_keys(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def unknown_key_message(path: str, key: str, keys: list[str] | tuple[str, ...]) -> str:
    near = difflib.get_close_matches(key, keys, n=1)
    hint = f" (did you mean {path}.{near[0]}?)" if near else ""
    return f"unknown key {path}.{key}{hint}; valid keys of {path}: {', '.join(keys)}"


def _plain(section: Any) -> Any:
    if isinstance(section, (DictConfig, ListConfig)):
        return OmegaConf.to_container(section, resolve=True)
    if dataclasses.is_dataclass(section) and not isinstance(section, type):
        return section
    return section if section is not None else {}


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _choice_of(hint: Any) -> tuple[Choice | None, bool]:
    """The Choice of an annotation and whether it applies to each item of a list."""
    if typing.get_origin(hint) is typing.Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, Choice)), None), False
    if typing.get_origin(hint) is list:
        (item,) = typing.get_args(hint) or (Any,)
        choice, _ = _choice_of(item)
        return choice, True
    return None, False


def _range_of(hint: Any) -> Range | None:
    if typing.get_origin(hint) is typing.Annotated:
        return next((m for m in hint.__metadata__ if isinstance(m, Range)), None)
    return None


def _nullable(hint: Any) -> bool:
    """Whether the field's own type admits null (Optional)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def value_errors(hint: Any, value: Any, where: str) -> list[str]:
    """Why ``value`` does not fit the field's choices or bounds (a list: each item; a mapping: its keys are the
    choices, its values in the bounds); empty when it fits."""
    choice, per_item = _choice_of(hint)
    bounds = _range_of(hint)
    errors = []
    if bounds is not None and value is None and not (bounds.null_ok or _nullable(hint)):
        errors.append(f"{where} is null; it needs {bounds.describe()}"
                      + (f" (or one of: {', '.join(choice.valid())})" if choice and choice.valid() else ""))
        return errors
    if isinstance(value, Mapping):
        keys, values = list(value), [(f"{where}.{k}", v) for k, v in value.items()]
    else:
        keys = list(value or []) if per_item else [value]
        values = [(where, v) for v in keys]
    if choice is not None:
        for v in keys:
            problem = choice.error(v)
            if problem:
                errors.append(f"{problem} ({where}); valid: {choice.describe()}")
    if bounds is not None and not errors:
        for at, v in values:
            problem = bounds.error(v)
            if problem:
                errors.append(f"{at}={problem}")
    return errors


def _field_class(hint: Any) -> type | None:
    """The dataclass a field holds (a nested section), else None."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    return hint if isinstance(hint, type) and dataclasses.is_dataclass(hint) else None


def _merge(cls: type[T], section: Any, path: str) -> Any:
    try:
        return OmegaConf.merge(OmegaConf.structured(cls), _plain(section))
    except (ConfigKeyError, ConfigAttributeError) as e:
        key_path = str(e.full_key or "")
        parent, _, key = key_path.rpartition(".")
        owner = e.object_type if isinstance(e.object_type, type) and dataclasses.is_dataclass(e.object_type) else cls
        where = f"{path}.{parent}" if parent else path
        raise ConfigError(unknown_key_message(where, key, valid_keys(owner))) from None
    except ValidationError as e:
        raise ConfigError(f"{path}.{e.full_key}: {str(e).splitlines()[0]}") from None
    except OmegaConfBaseException as e:
        raise ConfigError(f"{path}: {str(e).splitlines()[0]}") from None


def choice_errors(obj: Any, path: str = ROOT) -> list[str]:
    """Every field of a typed section whose value is not one of its choices (nested sections included)."""
    errors = []
    for name, hint in _hints(type(obj)).items():
        value = getattr(obj, name)
        where = f"{path}.{name}"
        if dataclasses.is_dataclass(value):
            errors += choice_errors(value, where)
            continue
        errors += value_errors(hint, value, where)
    return errors


def _per_task_errors(judge: Any, path: str) -> list[str]:
    from verm_rl.config.schema import _tasks

    errors = []
    tasks = _tasks()
    for task, settings in (judge.per_task or {}).items():
        if task not in tasks:
            errors.append(f"unknown task {task!r} ({path}.per_task); valid: {', '.join(tasks)}")
            continue
        unknown = [k for k in settings or {} if k not in JUDGE_SETTING_KEYS]
        for key in unknown:
            errors.append(unknown_key_message(f"{path}.per_task.{task}", key, JUDGE_SETTING_KEYS))
        if not unknown:  # the settings' types, names and bounds, as the same keys of verm.judge
            try:
                section_config(JudgeSettings, settings, f"{path}.per_task.{task}")
            except ConfigError as e:
                errors.append(str(e))
    return errors


def section_config(cls: type[T], section: Any, path: str = ROOT) -> T:
    """``section`` (a dict, a DictConfig or already a ``cls``) as a validated ``cls`` instance, with the schema's
    defaults for every key it leaves out. Raises :class:`ConfigError`."""
    if isinstance(section, cls):
        obj = section
    else:
        merged = _merge(cls, section, path)
        try:
            obj = OmegaConf.to_object(merged)
        except MissingMandatoryValue as e:
            raise ConfigError(f"{path}.{e.full_key} is not set (each verm/<group> sets its own)") from None
        except OmegaConfBaseException as e:
            raise ConfigError(f"{path}: {str(e).splitlines()[0]}") from None
    errors = choice_errors(obj, path)
    judge = getattr(obj, "judge", obj if hasattr(obj, "per_task") else None)
    if judge is not None:
        errors += _per_task_errors(judge, f"{path}.judge" if judge is not obj else path)
    if errors:
        raise ConfigError("\n".join(errors))
    return obj


def verm_config(section: Mapping[str, Any] | DictConfig | VermConfig | None) -> VermConfig:
    """The whole ``verm`` section, typed and validated (see :func:`section_config`)."""
    return section_config(VermConfig, section)


def check_key(dotted: str) -> None:
    """Raise :class:`ConfigError` unless ``dotted`` (``verm.reward.norm``) is a key of the schema. Keys below a
    free-form field (``verm.judge.per_task.*``, ``verm.summary.*``) are left to :func:`verm_config`."""
    parts = dotted.split(".")
    if parts[0] != ROOT:
        return
    cls: type | None = VermConfig
    for i, part in enumerate(parts[1:], start=1):
        if cls is None:
            return
        hints = _hints(cls)
        if part not in hints:
            raise ConfigError(unknown_key_message(".".join(parts[:i]), part, list(hints)))
        cls = _field_class(hints[part])
        if cls is None and i < len(parts) - 1 and not _open(hints[part]):
            raise ConfigError(f"{'.'.join(parts[:i + 1])} is a value, not a section: {dotted} is not a key")


def _open(hint: Any) -> bool:
    """Whether keys below a field are free-form (a mapping or Any)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return any(_open(a) for a in typing.get_args(hint))
    return hint is Any or hint is dict or typing.get_origin(hint) is dict


def describe_type(hint: Any) -> str:
    """A field's type in words, for messages (``a list, e.g. [a, b]``)."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return " or ".join(describe_type(a) for a in args) + (" or null" if len(args) < len(typing.get_args(hint))
                                                             else "")
    origin = typing.get_origin(hint) or hint
    return {list: "a list, e.g. [a, b]", dict: "a mapping, e.g. {key: value}", float: "a number", int: "an integer",
            bool: "true or false", str: "a string"}.get(origin, "a value")


def check_value(dotted: str, value: Any) -> None:
    """Raise :class:`ConfigError` when ``value`` does not fit the key ``dotted``: its type (a list where a list is
    needed, a number where a number is, null only where allowed), its choices and its bounds."""
    parts = dotted.split(".")
    cls: type | None = VermConfig
    owner: type | None = None
    hint: Any = None
    for part in parts[1:]:
        if cls is None:
            return
        hint = _hints(cls).get(part)
        if hint is None:
            return
        owner, cls = cls, _field_class(hint)
    if owner is None or cls is not None:  # the root or a whole section: Hydra merges it, check_config checks it
        return
    try:
        setattr(OmegaConf.structured(owner), parts[-1], value)  # OmegaConf's own conversion, as Hydra's merge
    except OmegaConfBaseException as e:
        choice, _ = _choice_of(hint)
        names = f" (names: {choice.describe()})" if choice is not None else ""
        raise ConfigError(f"{dotted}={'null' if value is None else repr(value)}: {str(e).splitlines()[0]}; "
                          f"{dotted} takes {describe_type(hint)}{names}") from None
    errors = value_errors(hint, value, dotted)
    if errors:
        raise ConfigError("\n".join(errors))
