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

from verm_rl.config.schema import JUDGE_SETTING_KEYS, Choice, VermConfig

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
        choice, per_item = _choice_of(hint)
        if choice is None:
            continue
        for v in (value or []) if per_item else [value]:
            problem = choice.error(v)
            if problem:
                errors.append(f"{problem} ({where}); valid: {choice.describe()}")
    return errors


def _per_task_errors(judge: Any, path: str) -> list[str]:
    from verm_rl.config.schema import _tasks

    errors = []
    tasks = _tasks()
    for task, settings in (judge.per_task or {}).items():
        if task not in tasks:
            errors.append(f"unknown task {task!r} ({path}.per_task); valid: {', '.join(tasks)}")
            continue
        for key in settings or {}:
            if key not in JUDGE_SETTING_KEYS:
                errors.append(unknown_key_message(f"{path}.per_task.{task}", key, JUDGE_SETTING_KEYS))
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


def check_value(dotted: str, value: Any) -> None:
    """Raise :class:`ConfigError` when ``dotted`` is a choice and ``value`` is not one of its names."""
    parts = dotted.split(".")
    cls: type | None = VermConfig
    hint: Any = None
    for part in parts[1:]:
        if cls is None:
            return
        hint = _hints(cls).get(part)
        if hint is None:
            return
        cls = _field_class(hint)
    choice, per_item = _choice_of(hint)
    if choice is None:
        return
    for v in (value if per_item and isinstance(value, list) else [value]):
        problem = choice.error(v)
        if problem:
            raise ConfigError(f"{problem} ({dotted}); valid: {choice.describe()}")
