"""``save_pretrained(dir)`` / ``from_pretrained(dir)`` for every vidgan model.

A model folder holds ``config.json`` and ``model.safetensors`` (its weights), so it rebuilds its
own model without the caller knowing the hyper-parameters. ``config.json`` (diffusers-style)::

    {"format": 1, "model": "RefWarp", "args": {...the constructor's arguments...}}

A folder is data, never code. ``"model"`` is looked up among the model classes vidgan registers
(nothing named in a file is imported); ``"args"`` are checked against the constructor's
signature and types, and the model's tensor shapes (built on the meta device, no memory) against
the weights file's header, before anything is allocated; the weights are read with safetensors
(nothing is unpickled). A folder of an older format loads; a newer one is refused.
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import safetensors
import safetensors.torch
import torch
from torch import nn

from vidgan.errors import InputError
from vidgan.io.atomic import atomic_dir
from vidgan.nn.device import resolve_device

#: Version of the folder layout written here; folders of this or an older version load. 0: the
#: layout before versions (``"class": "<module>.<Name>"``).
FORMAT_VERSION = 1
#: Every model class defined so far, by name: the only classes a folder can name.
_REGISTRY: dict[str, type[Pretrained]] = {}
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"

def _json_value(value: Any) -> Any:
    """Constructor argument as JSON (tuples become lists); anything else is a bug in the model."""
    if isinstance(value, (tuple, list)):
        return [_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _json_value(item) for key, item in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"constructor argument {value!r} is not JSON-serialisable; pass plain values")


class Pretrained(nn.Module):
    """Base of every vidgan model: records its constructor arguments in ``self.config``.

    Subclasses write an ordinary ``__init__`` with plain (JSON-able) arguments; nothing else.
    """

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _register(cls)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Pretrained, *args: Any, **kw: Any) -> None:
            if not hasattr(self, "_recording"):  # the outermost __init__ records
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                arguments = dict(bound.arguments)
                arguments.pop("self")
                for name, parameter in signature.parameters.items():
                    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                        arguments.update(arguments.pop(name))
                object.__setattr__(self, "_recording", True)
                init(self, *args, **kw)
                object.__setattr__(self, "config", _json_value(arguments))
                object.__delattr__(self, "_recording")
            else:
                init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    def save_pretrained(self, directory: str | os.PathLike[str]) -> Path:
        """Write ``config.json`` + ``model.safetensors`` into ``directory``, atomically (an
        existing folder is replaced)."""
        directory = Path(directory)
        with atomic_dir(directory) as staging:
            document = {"format": FORMAT_VERSION, "model": type(self).__name__, "args": self.config}
            (staging / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            safetensors.torch.save_model(self, str(staging / WEIGHTS_FILE))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> Self:
        """Rebuild the model saved in ``directory`` (its own class and arguments) with its weights;
        a training run folder (holding the exported ``model/``) works too.

        Called on a base class it returns the saved subclass; a folder of another model, an
        unknown name, arguments the constructor does not take or weights that do not fit are one
        :class:`~vidgan.errors.InputError` naming the file."""
        directory = Path(directory)
        device = resolve_device(device) if isinstance(device, str) else device  # a missing GPU is not a bad file
        if not (directory / CONFIG_FILE).is_file() and (directory / "model" / CONFIG_FILE).is_file():
            directory = directory / "model"
        config_path = directory / CONFIG_FILE
        weights_path = directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise InputError(path, "missing: not a vidgan model folder (expected config.json + model.safetensors)")
        name, arguments = _read_config(config_path)
        model_class = cls._model_class(name.rpartition(".")[2])
        if model_class is not None and "." in name and name != f"{model_class.__module__}.{model_class.__qualname__}":
            model_class = None  # an older folder's "<module>.<Name>": only where vidgan defines it
        if model_class is None:
            raise InputError(config_path, f"unknown model {name!r}: vidgan has no such model class")
        if not issubclass(model_class, cls):
            raise InputError(config_path, f"holds a {model_class.__name__}, not a {cls.__name__}")
        try:
            layout = _tensor_layout(meta_model(model_class, arguments, prefix="args."))
        except ValueError as problem:
            raise InputError(config_path, str(problem)) from None
        _check_weights(weights_path, model_class.__name__, layout)
        model = model_class(**arguments)
        try:
            safetensors.torch.load_model(model, str(weights_path), device=str(device))
        except (RuntimeError, safetensors.SafetensorError) as error:
            raise InputError(weights_path, f"weights do not fit {model_class.__name__}: {error}") from None
        return model.to(device)

    @classmethod
    def _model_class(cls, name: str) -> type[Pretrained] | None:
        """The registered model class called ``name`` (None: none). Subclasses may first import
        their own modules that define it."""
        return _REGISTRY.get(name)


def _register(cls: type[Pretrained]) -> None:
    known = _REGISTRY.get(cls.__name__)
    if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
        raise TypeError(f"two model classes are named {cls.__name__}: {known.__module__}.{known.__qualname__} "
                        f"and {cls.__module__}.{cls.__qualname__}; model folders name a class by its name")
    _REGISTRY[cls.__name__] = cls


def _read_config(config_path: Path) -> tuple[str, dict[str, Any]]:
    """``(model name, arguments)`` of a ``config.json`` of this format or an older one."""
    try:
        document = json.loads(config_path.read_text())
        version = document.get("format", 0)
        if version == 0:  # {"class": "<module>.<Name>", "args": {...}}
            name, arguments = document["class"], document["args"]
        else:
            name, arguments = document["model"], document["args"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as error:
        raise InputError(config_path, f"not a vidgan model config ({type(error).__name__}: {error})") from None
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise InputError(config_path, f"format must be a whole number >= 0, got {version!r}")
    if version > FORMAT_VERSION:
        raise InputError(config_path, f"written by a newer vidgan (model folder format {version}; this one reads "
                                      f"up to {FORMAT_VERSION}): upgrade vidgan to load it")
    if not isinstance(name, str) or not isinstance(arguments, dict):
        raise InputError(config_path, "not a vidgan model config (model must be a name, args an object)")
    return name, arguments


def meta_model(model_class: type[Pretrained], arguments: dict[str, Any], prefix: str = "") -> Pretrained:
    """``model_class(**arguments)`` built on the meta device (no memory) from settings a user or
    a file gave, once every key is a parameter of the constructor of its annotated type and none
    is missing. Anything wrong (a negative width, a size the layers refuse too) is a
    ``ValueError`` naming the key as ``<prefix><key>``."""
    init = inspect.unwrap(model_class.__init__)
    parameters = dict(list(inspect.signature(init).parameters.items())[1:])
    hints = typing.get_type_hints(init)
    open_keywords = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    unknown = sorted(set(arguments) - set(parameters))
    if unknown and not open_keywords:
        raise ValueError(f"{prefix}{unknown[0]}: {model_class.__name__} takes no such argument "
                         f"(it takes {', '.join(parameters)})")
    for key, parameter in parameters.items():
        if parameter.kind in (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL):
            continue
        if key not in arguments:
            if parameter.default is inspect.Parameter.empty:
                raise ValueError(f"{prefix}{key}: missing ({model_class.__name__} needs it)")
            continue
        hint = hints.get(key, Any)
        if not _conforms(arguments[key], hint):
            raise ValueError(f"{prefix}{key}: {arguments[key]!r} is not a {_describe(hint)}")
        if _negative(arguments[key]):  # widths, sizes, counts, scales: no model argument is below zero
            raise ValueError(f"{prefix}{key}: must not be negative, got {arguments[key]!r}")
    try:
        with torch.device("meta"):
            return model_class(**arguments)
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError, ZeroDivisionError) as error:
        raise ValueError(f"{prefix.rstrip('.') or 'arguments'}: these values do not build a "
                         f"{model_class.__name__}: {error}") from None


def _negative(value: Any) -> bool:
    """A number below zero, or a list holding one."""
    if isinstance(value, (list, tuple)):
        return any(_negative(item) for item in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a JSON value fits a constructor annotation (tuples arrive as lists)."""
    origin, parts = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is None or hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, part) for part in parts)
    if origin is typing.Literal:
        return value in parts
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (tuple, list, Sequence) or hint in (tuple, list):
        if not isinstance(value, list):
            return False
        if origin is tuple and parts and parts[-1] is not Ellipsis:
            return len(value) == len(parts) and all(_conforms(v, p) for v, p in zip(value, parts, strict=True))
        return not parts or all(_conforms(v, parts[0]) for v in value)
    if origin in (dict, Mapping) or hint is dict:
        return isinstance(value, dict) and (not parts or all(_conforms(v, parts[1]) for v in value.values()))
    return True  # an annotation this check does not know: the constructor decides


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) if typing.get_origin(hint) is None else str(hint).replace("typing.", "")


def _tensor_layout(model: nn.Module) -> dict[str, tuple[tuple[int, ...], int]]:
    """Every tensor of a model's state dict: ``(shape, group)``, tensors of one group shared."""
    tensors = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    return {key: (tuple(tensor.shape), id(tensors.get(key, tensor))) for key, tensor in model.state_dict().items()}


def _check_weights(weights_path: Path, name: str, layout: dict[str, tuple[tuple[int, ...], int]]) -> None:
    """The file's header holds exactly the model's tensors, each of the model's shape (a tensor
    shared under several names once). Read before the model is allocated: a config asking for a
    huge model is refused here."""
    try:
        with safetensors.safe_open(str(weights_path), "pt") as file:
            stored = {key: tuple(file.get_slice(key).get_shape()) for key in file.keys()}  # noqa: SIM118
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise InputError(weights_path, f"not a safetensors weights file (truncated or damaged?): {error}") from None
    for key, shape in stored.items():
        if key not in layout or layout[key][0] != shape:
            expected = "no such tensor" if key not in layout else f"shape {list(layout[key][0])}"
            raise InputError(weights_path, f"weights do not fit {name}: {key} is {list(shape)} in the file, "
                                           f"the model has {expected}")
    present = {layout[key][1] for key in stored}
    missing = [key for key, (_, group) in layout.items() if group not in present]
    if missing:
        raise InputError(weights_path, f"weights do not fit {name}: {len(missing)} tensors missing, "
                                       f"first {missing[0]}")
