"""The one GAN trainer (local or Ray Train), its checkpoints and its run folder."""

from vidgan.train.config import TrainConfig
from vidgan.train.experiment import (
    ExperimentConfig,
    Family,
    build_trainer,
    run_experiment,
)
from vidgan.train.logger import read_metrics
from vidgan.train.trainer import GANTrainer, TrainingDiverged, TrainResult

__all__ = [
    "ExperimentConfig",
    "Family",
    "GANTrainer",
    "TrainConfig",
    "TrainResult",
    "TrainingDiverged",
    "build_trainer",
    "read_metrics",
    "run_experiment",
]
