"""A training run from a config file: which family, its model arguments, data, losses, trainer.

``configs/models/<name>.yaml``::

    family: mocogan          # a registered family (vidgan.models.FAMILIES) or a module path
    model: {...}             # the family's model constructor arguments
    data: {...}              # the family's data settings (its own typed dataclass)
    losses: {...}            # the family's loss weights (its own typed dataclass)
    train: {...}             # TrainConfig

A family's recipe module (:mod:`vidgan.train.recipes`) exposes ``FAMILY = Family(...)``; this
module builds and runs it, in one process or on every Ray Train worker alike.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from vidgan.config import from_dict, save_config
from vidgan.errors import ConfigError
from vidgan.nn.pretrained import meta_model
from vidgan.models.base import GANModel
from vidgan.train.config import TrainConfig
from vidgan.train.parallel import Parallel
from vidgan.train.trainer import GANTrainer, TrainResult, seed_everything

CONFIG_FILE = "config.yaml"


@dataclass(frozen=True)
class Family:
    """How to train one model family: its classes and its typed settings."""

    name: str
    model: type[GANModel]
    trainer: type[GANTrainer]
    data: type  # dataclass of the family's data settings
    losses: type  # dataclass of the family's loss weights
    #: ``dataset(data_settings, model) -> (dataset, collate or None)``
    dataset: Callable[[Any, GANModel], tuple[Dataset, Callable[[list[Any]], Any] | None]]


@dataclass
class ExperimentConfig:
    """One training run (see the module docstring for the YAML layout)."""

    family: str = ""
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    losses: dict[str, Any] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)


def load_family(name: str) -> Family:
    """The family registered as ``name`` in :data:`vidgan.models.FAMILIES`, or the ``FAMILY`` of
    the module at dotted path ``name`` (your own family, trained by the same trainer)."""
    from vidgan.models import FAMILIES

    module_name = FAMILIES.get(name, name)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        valid = ", ".join(sorted(FAMILIES))
        raise ConfigError(f"family {name!r}: not one of {valid} and not an importable module ({error})") from None
    family = getattr(module, "FAMILY", None)
    if not isinstance(family, Family):
        raise ConfigError(f"family {name!r}: module {module_name} has no FAMILY = Family(...)")
    return family


def build_model(config: ExperimentConfig) -> GANModel:
    """The family's model from ``config.model`` (unknown or missing arguments are config errors)."""
    family = load_family(config.family)
    try:
        meta_model(family.model, config.model, prefix="model.")
    except ValueError as problem:
        raise ConfigError(str(problem)) from None
    return family.model(**config.model)


def build_trainer(config: ExperimentConfig, run_dir: str | Path) -> GANTrainer:
    """Model, dataset and trainer of ``config``, ready to ``train()`` into ``run_dir``."""
    family = load_family(config.family)
    data = from_dict(family.data, config.data, source="config", prefix="data.")
    losses = from_dict(family.losses, config.losses, source="config", prefix="losses.")
    seed_everything(config.train.seed)  # the same initial weights on every run and every rank
    model = build_model(config)
    try:
        dataset, collate = family.dataset(data, model)
    except ValueError as problem:  # data that do not fit the settings or the model: the user's to fix
        raise ConfigError(f"data: {problem}") from None
    return family.trainer(model, dataset, config.train, run_dir, losses=losses, collate=collate)


def run_experiment(config: ExperimentConfig, run_dir: str | Path, resume: bool = True) -> TrainResult:
    """Train ``config`` into ``run_dir`` (resuming its latest checkpoint when ``resume``); the
    resolved config is saved as ``run_dir/config.yaml`` once the run has resumed (a resume that
    fails leaves the run's config as it was). Works alike on every Ray Train worker."""
    run_dir = Path(run_dir)
    trainer = build_trainer(config, run_dir)
    main = Parallel.current().is_main
    return trainer.train(resume=resume, on_ready=lambda: save_config(config, run_dir / CONFIG_FILE) if main else None)
