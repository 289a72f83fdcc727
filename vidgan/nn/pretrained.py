"""``save_pretrained(dir)`` / ``from_pretrained(dir)`` for every vidgan model.

A checkpoint folder holds ``config.json`` (the model's class and the constructor arguments it
was built with) and ``model.safetensors`` (its weights), so it rebuilds its own model without the
caller knowing the hyper-parameters. Loading never unpickles anything.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import json
import os
from pathlib import Path
from typing import Any, Self

import safetensors.torch
import torch
from torch import nn

from vidgan.errors import InputError
from vidgan.io.atomic import atomic_dir

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
            document = {"class": f"{type(self).__module__}.{type(self).__qualname__}", "args": self.config}
            (staging / CONFIG_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
            safetensors.torch.save_model(self, str(staging / WEIGHTS_FILE))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike[str], device: str | torch.device = "cpu") -> Self:
        """Rebuild the model saved in ``directory`` (its own class and arguments) with its weights;
        a training run folder (holding the exported ``model/``) works too.

        Called on a base class it returns the saved subclass; called on an unrelated class it is
        an error naming both."""
        directory = Path(directory)
        if not (directory / CONFIG_FILE).is_file() and (directory / "model" / CONFIG_FILE).is_file():
            directory = directory / "model"
        config_path = directory / CONFIG_FILE
        weights_path = directory / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise InputError(path, "missing: not a vidgan model folder (expected config.json + model.safetensors)")
        try:
            document = json.loads(config_path.read_text())
            class_path, arguments = document["class"], document["args"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InputError(config_path, f"not a vidgan model config ({error})") from None
        model_class = _import_class(config_path, class_path)
        if not issubclass(model_class, cls):
            raise InputError(config_path, f"holds a {class_path}, not a {cls.__module__}.{cls.__qualname__}")
        model = model_class(**arguments)
        try:
            safetensors.torch.load_model(model, str(weights_path), device=str(device))
        except (RuntimeError, safetensors.SafetensorError) as error:
            raise InputError(weights_path, f"weights do not fit {class_path}: {error}") from None
        return model.to(device)


def _import_class(config_path: Path, class_path: str) -> type[Pretrained]:
    module_name, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise InputError(config_path, f"model class {class_path} cannot be imported") from None
    if not (isinstance(found, type) and issubclass(found, Pretrained)):
        raise InputError(config_path, f"{class_path} is not a vidgan model class")
    return found
