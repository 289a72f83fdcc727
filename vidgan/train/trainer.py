"""The one GAN trainer. A model family subclasses :class:`GANTrainer` and writes its losses in
:meth:`~GANTrainer.dis_losses` and :meth:`~GANTrainer.gen_losses` (imaginaire's shape); the
update mechanics live here once: optimisers, AMP, gradient accumulation, data parallelism,
D:G ratio, R1, clipping, EMA, learning-rate schedule, budgets, checkpoints, NaN rollback, logs.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.data import DataLoader, Dataset

from vidgan.errors import MissingWeightsError, VidganError
from vidgan.nn.device import resolve_device
from vidgan.models.base import GANModel
from vidgan.nn.losses import r1_penalty
from vidgan.nn.norm import spectral_norm_all
from vidgan.nn.perceptual import PerceptualLoss
from vidgan.train import checkpoint
from vidgan.train.config import TrainConfig
from vidgan.train.ema import EMA
from vidgan.train.logger import RunLogger
from vidgan.train.parallel import Parallel
from vidgan.train.sampler import MicroBatchSampler
from vidgan.train.schedule import lr_factor

Batch = dict[str, Any]


class NonFiniteLoss(Exception):
    """A loss came out NaN or infinite (caught by the trainer's guard)."""


class TrainingDiverged(VidganError):
    """Training kept producing non-finite losses after every allowed rollback."""


@dataclass
class TrainResult:
    """What :meth:`GANTrainer.train` did."""

    iterations: int
    seconds: float
    rollbacks: int
    exported: Path | None


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {key: to_device(value, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(value, device) for value in batch)
    return batch


class GANTrainer:
    """Trains ``model`` (a :class:`~vidgan.models.base.GANModel`) on ``dataset``, writing to ``run_dir``.

    ``losses``: the family's loss settings (weights), kept as ``self.losses`` for the hooks.

    Subclasses implement :meth:`dis_losses`, :meth:`gen_losses` and optionally :meth:`preview`;
    they draw random inputs with :meth:`noise` (identical for any number of workers) and compute
    the discriminator's scores on real data with :meth:`real_scores` (which adds R1 when due).
    """

    def __init__(
        self,
        model: GANModel,
        dataset: Dataset,
        config: TrainConfig,
        run_dir: str | Path,
        *,
        losses: Any = None,
        collate: Callable[[list[Any]], Any] | None = None,
    ) -> None:
        self.config = config
        self.losses = losses
        self.run_dir = Path(run_dir)
        self.device = resolve_device(config.device)
        self.parallel = Parallel.current(self.device.type)
        self.dataset, self.collate = dataset, collate
        micro = config.batch_size // config.grad_accumulation
        if micro % self.parallel.world:
            raise VidganError(
                f"train.batch_size / train.grad_accumulation = {micro} must be a multiple of the "
                f"{self.parallel.world} workers"
            )
        self.micro_batch = micro
        seed_everything(config.seed + self.parallel.rank)
        before = _parametrized(model)
        if config.spectral_norm in ("generator", "both"):
            spectral_norm_all(model.generator)
        if config.spectral_norm in ("discriminator", "both"):
            spectral_norm_all(model.discriminators)
        #: Modules the trainer gave spectral norm; :meth:`export` folds it back into the weights.
        self.spectral_added = _parametrized(model) - before
        self.model = model.to(self.device)
        self.parallel.broadcast(self.model)
        self.ema = EMA(model.generator, config.ema_decay, config.ema_start) if config.ema_decay > 0 else None
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=config.lr_g, betas=config.betas)
        self.opt_d = torch.optim.Adam(model.discriminators.parameters(), lr=config.lr_d, betas=config.betas)
        cuda = self.device.type == "cuda"
        self.amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(config.amp) if cuda else None
        fp16 = self.amp_dtype is torch.float16
        self.scaler_g = torch.amp.GradScaler("cuda", enabled=fp16)
        self.scaler_d = torch.amp.GradScaler("cuda", enabled=fp16)
        self.noise_generator = torch.Generator(self.device).manual_seed(config.seed)
        self.iteration = 0
        self.micro_position = 0
        self.d_updates = 0
        self.lr_scale = 1.0
        self.rollbacks = 0
        self._r1_due = False
        self._extra_losses: dict[str, torch.Tensor] = {}
        self._notices: list[str] = []
        self._logger: RunLogger | None = None

    # ---- what a model family writes -------------------------------------------------------

    def dis_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Weighted discriminator loss terms on one micro-batch (summed by the trainer)."""
        raise NotImplementedError

    def gen_losses(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Weighted generator loss terms on one micro-batch (summed by the trainer)."""
        raise NotImplementedError

    def preview(self, generator: nn.Module, batch: Batch) -> torch.Tensor | None:
        """Samples to log: images ``(B, C, H, W)`` or clips ``(B, T, C, H, W)`` in [-1, 1]."""
        return None

    def trained_networks(self, which: str) -> list[nn.Module]:
        """The networks that learn in this iteration's ``which`` step ("d": the discriminators',
        "g": the generator's); asked every step, so a family that rests a network for a phase
        returns the others (default: the whole side). A module of that side outside the list
        rests for the step: no gradient, eval mode, not reduced across workers, not stepped by
        the optimiser. An empty list skips the step (its losses are not computed)."""
        return [self.model.discriminators if which == "d" else self.model.generator]

    # ---- helpers for the hooks ------------------------------------------------------------

    def noise(self, *shape: int) -> torch.Tensor:
        """Standard normal noise ``(local_batch, *shape)`` for this rank's part of the micro-batch.

        Every rank draws the whole micro-batch from one seeded generator and keeps its slice, so
        N workers see exactly the noise one process would."""
        local = self.micro_batch // self.parallel.world
        full = torch.randn((self.micro_batch, *shape), generator=self.noise_generator, device=self.device)
        return full[self.parallel.rank * local : (self.parallel.rank + 1) * local]

    def randint(self, high: int, *shape: int) -> torch.Tensor:
        """Integers in ``[0, high)`` shaped ``(local_batch, *shape)``, drawn like :meth:`noise`."""
        local = self.micro_batch // self.parallel.world
        full = torch.randint(high, (self.micro_batch, *shape), generator=self.noise_generator, device=self.device)
        return full[self.parallel.rank * local : (self.parallel.rank + 1) * local]

    def real_scores(self, discriminator: Callable[..., Any], real: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        """``discriminator(real, *args, **kwargs)``; when an R1 step is due, also records the
        penalty on ``real`` (weighted for lazy regularisation) as the loss term ``r1``."""
        if not self._r1_due:
            return discriminator(real, *args, **kwargs)
        real = real.detach().requires_grad_(True)
        scores = discriminator(real, *args, **kwargs)
        weight = self.config.r1_weight / 2 * self.config.r1_interval
        penalty = weight * r1_penalty(scores, real)
        self._extra_losses["r1"] = self._extra_losses.get("r1", 0) + penalty
        return scores

    def perceptual_loss(self, weights: str | None = None) -> PerceptualLoss | None:
        """The VGG19 perceptual loss on this trainer's device, or None when its weights are not on
        local disk: then the run's log says so and where to put them, and training goes on
        without that term. Families call this in ``__init__`` when their perceptual weight > 0."""
        try:
            return PerceptualLoss(weights).to(self.device)
        except MissingWeightsError as error:
            self.notice(f"perceptual loss off: {error}")
            return None

    def notice(self, text: str) -> None:
        """A line for the console and ``train.log`` (held until the run's log is open)."""
        if self._logger is None:
            self._notices.append(text)
        else:
            self._logger.message(text)

    @property
    def generator(self) -> nn.Module:
        """The generator to sample from: the EMA average when there is one."""
        return self.ema.module if self.ema is not None else self.model.generator

    # ---- the loop -------------------------------------------------------------------------

    def train(self, resume: bool = True, on_ready: Callable[[], None] | None = None) -> TrainResult:
        """Train until ``iterations`` or ``minutes`` runs out; resume from the run's latest
        checkpoint when ``resume``. Writes checkpoints, logs and finally ``run_dir/model``;
        ``on_ready`` is called once the run has resumed (or started), before the first iteration."""
        config, started = self.config, time.perf_counter()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not resume and self.parallel.is_main:  # start over: an earlier run's checkpoints must not outrank ours
            shutil.rmtree(self.run_dir / "checkpoints", ignore_errors=True)
            shutil.rmtree(self.run_dir / "samples", ignore_errors=True)
        self.parallel.barrier()
        if not (resume and self._load_latest()):
            self._save()
        if on_ready is not None:
            on_ready()
        logger = RunLogger(self.run_dir, enabled=self.parallel.is_main, total=config.iterations, start=self.iteration)
        self._logger = logger
        for text in self._notices:
            logger.message(text)
        deadline = None if config.minutes is None else started + config.minutes * 60
        batches = self._batches()
        try:
            while self.iteration < config.iterations and self.parallel.all_true(
                deadline is None or time.perf_counter() < deadline
            ):
                try:
                    losses, last_batch = self._iteration(batches)
                except NonFiniteLoss as error:
                    batches = self._roll_back(str(error), logger)
                    continue
                logger.advance()
                if self.iteration % config.log_every == 0 or self.iteration == config.iterations:
                    lr = {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"]}
                    logger.scalars(self.iteration, {**self._reduce(losses), **lr})
                if self.iteration % config.sample_every == 0 and self.parallel.is_main:
                    self._log_samples(logger, last_batch)
                if self.iteration % config.checkpoint_every == 0:
                    self._save()
            if checkpoint.latest_checkpoint(self.run_dir) != checkpoint.checkpoint_dir(self.run_dir, self.iteration):
                self._save()
            exported = self.export(self.run_dir / "model") if self.parallel.is_main else None
        finally:
            logger.close()
            self._logger = None
        return TrainResult(self.iteration, time.perf_counter() - started, self.rollbacks, exported)

    def export(self, directory: str | Path) -> Path:
        """Save the model for inference (``from_pretrained``), with the EMA generator's weights
        and the trainer's spectral norm folded into plain weights (so that the saved constructor
        arguments rebuild it)."""
        state = self.model.state_dict()
        modules = dict(self.model.named_modules())
        if self.ema is not None:
            state.update({f"generator.{k}": v for k, v in self.ema.module.state_dict().items()})
            modules.update({f"generator.{n}".rstrip("."): m for n, m in self.ema.module.named_modules()})
        training = {module: module.training for module in modules.values()}
        with torch.no_grad():
            for module in training:
                module.train(False)  # spectral norm without another power iteration
            for name in self.spectral_added:
                prefix = f"{name}.parametrizations.weight."
                state = {k: v for k, v in state.items() if not k.startswith(prefix)}
                state[f"{name}.weight"] = modules[name].weight.detach().clone()
            for module, mode in training.items():
                module.training = mode
        with torch.random.fork_rng(devices=[]):  # building a model draws initial weights
            plain = type(self.model)(**self.model.config)
        plain.load_state_dict(state)
        return plain.save_pretrained(directory)

    def time_iterations(self, iterations: int, warmup: int = 3) -> tuple[float, float | None]:
        """Seconds per training iteration, measured over ``iterations`` after ``warmup`` ones, and
        the peak GPU memory in GiB meanwhile (None off CUDA). No logs, samples or checkpoints:
        for benchmarks of presets (the model is trained by those iterations)."""
        batches = self._batches()
        cuda = self.device.type == "cuda"
        for _ in range(warmup):
            self._iteration(batches)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        for _ in range(iterations):
            self._iteration(batches)
        if cuda:
            torch.cuda.synchronize()
        seconds = (time.perf_counter() - started) / iterations
        return seconds, torch.cuda.max_memory_allocated() / 2**30 if cuda else None

    def _iteration(self, batches: Iterator[Batch]) -> tuple[dict[str, torch.Tensor], list[Batch]]:
        config = self.config
        factor = lr_factor(config, self.iteration) * self.lr_scale
        for optimizer, base in ((self.opt_g, config.lr_g), (self.opt_d, config.lr_d)):
            for group in optimizer.param_groups:
                group["lr"] = base * factor
        losses: dict[str, torch.Tensor] = {}
        for _ in range(config.d_steps):  # D losses are logged as their mean over the D steps
            micro_batches = [next(batches) for _ in range(config.grad_accumulation)]
            self._r1_due = config.r1_weight > 0 and self.d_updates % config.r1_interval == 0
            for name, value in self._update("d", micro_batches).items():
                losses[name] = losses.get(name, 0) + value / config.d_steps
            self._r1_due = False
            self.d_updates += 1
        losses.update(self._update("g", micro_batches))
        self.iteration += 1
        self.micro_position += config.d_steps * config.grad_accumulation
        if self.ema is not None:
            self.ema.update(self.model.generator, self.iteration)
        return losses, micro_batches

    def _update(self, which: str, micro_batches: list[Batch]) -> dict[str, torch.Tensor]:
        """One optimiser step of ``which`` ("d" or "g") over the accumulated micro-batches."""
        generator, discriminators = self.model.generator, self.model.discriminators
        network, optimizer, scaler, hook = (
            (discriminators, self.opt_d, self.scaler_d, self.dis_losses)
            if which == "d"
            else (generator, self.opt_g, self.scaler_g, self.gen_losses)
        )
        trained = self.trained_networks(which)
        if not trained:
            return {}
        discriminators.requires_grad_(False)
        generator.requires_grad_(False)
        for module in trained:
            module.requires_grad_(True)
        learning = {id(m) for module in trained for m in module.modules()}
        resting = [m for m in network.modules() if id(m) not in learning and m.training]
        optimizer.zero_grad(set_to_none=True)
        totals: dict[str, torch.Tensor] = {}
        try:
            for module in resting:  # one module at a time: eval() would reach the learning children too
                module.training = False
            for batch in micro_batches:
                self._extra_losses = {}
                with self._autocast():
                    terms = hook(batch)
                terms = {**terms, **self._extra_losses}
                total = sum(term.float() for term in terms.values()) / len(micro_batches)
                scaler.scale(total).backward()
                for name, term in terms.items():
                    key = f"loss_{which}/{name}"
                    totals[key] = totals.get(key, 0) + term.detach().float() / len(micro_batches)
        finally:
            for module in resting:
                module.training = True
        totals[f"loss_{which}"] = sum(totals.values())
        finite = bool(torch.isfinite(torch.stack(list(totals.values()))).all())
        if not self.parallel.all_true(finite):
            bad = ", ".join(f"{k}={v.item():.4g}" for k, v in totals.items() if not torch.isfinite(v))
            raise NonFiniteLoss(f"non-finite {which.upper()} loss at iteration {self.iteration + 1} ({bad or 'on another worker'})")
        parameters = [p for module in trained for p in module.parameters()]
        self.parallel.average_gradients(parameters)
        if self.config.grad_clip is not None:
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(parameters, self.config.grad_clip)
        scaler.step(optimizer)
        scaler.update()
        return totals

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def _batches(self) -> Iterator[Batch]:
        sampler = MicroBatchSampler(
            len(self.dataset), self.micro_batch, seed=self.config.seed,
            rank=self.parallel.rank, world=self.parallel.world, start=self.micro_position,
        )
        loader = DataLoader(
            self.dataset, batch_sampler=sampler, num_workers=self.config.loader_workers,
            collate_fn=self.collate, pin_memory=self.device.type == "cuda",
            persistent_workers=self.config.loader_workers > 0,
            # Worker seeds come from this generator, not the global RNG, so that making a new
            # loader on resume leaves the global RNG stream exactly where training left it.
            generator=torch.Generator().manual_seed(self.config.seed + self.micro_position),
        )
        return (to_device(batch, self.device) for batch in loader)

    def _reduce(self, losses: dict[str, torch.Tensor]) -> dict[str, float]:
        names = sorted(losses)
        values = self.parallel.mean(torch.stack([losses[name] for name in names]))
        return dict(zip(names, values.tolist(), strict=True))

    def _log_samples(self, logger: RunLogger, micro_batches: list[Batch]) -> None:
        """Previews draw fixed noise (the same every time) and leave every RNG stream untouched."""
        noise_state = self.noise_generator.get_state()
        self.noise_generator.manual_seed(self.config.seed + 1)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad(), self._autocast():
            samples = self.preview(self.generator, micro_batches[-1])
        self.noise_generator.set_state(noise_state)
        if samples is not None:
            logger.samples(self.iteration, samples.float())

    # ---- state ----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Everything besides the weights that a bit-exact resume needs (this rank's RNG included)."""
        return {
            "iteration": self.iteration,
            "micro_position": self.micro_position,
            "d_updates": self.d_updates,
            "lr_scale": self.lr_scale,
            "rollbacks": self.rollbacks,
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "noise_generator": self.noise_generator.get_state(),
            "rng": self.parallel.gather(checkpoint.rng_state()),
            "world": self.parallel.world,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        for name in ("iteration", "micro_position", "d_updates", "lr_scale", "rollbacks"):
            setattr(self, name, state[name])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.scaler_g.load_state_dict(state["scaler_g"])
        self.scaler_d.load_state_dict(state["scaler_d"])
        self.noise_generator.set_state(state["noise_generator"])
        if state["world"] == self.parallel.world:
            checkpoint.set_rng_state(state["rng"][self.parallel.rank])
        else:  # another number of workers: the per-rank streams cannot continue; start fresh ones
            seed_everything(self.config.seed + self.parallel.rank + 1_000_003 * self.iteration)

    def _save(self) -> None:
        state = self.state()
        if self.parallel.is_main:
            checkpoint.write_checkpoint(
                self.run_dir, self.iteration, self.model, self.ema.module if self.ema else None,
                state, self.config.keep_checkpoints,
            )
        self.parallel.barrier()

    def _load_latest(self) -> bool:
        folder = checkpoint.latest_checkpoint(self.run_dir)
        if folder is None:
            return False
        state = checkpoint.read_checkpoint(folder, self.model, self.ema.module if self.ema else None, self.device)
        self.load_state(state)
        return True

    def _roll_back(self, problem: str, logger: RunLogger) -> Iterator[Batch]:
        """Return to the latest checkpoint with lower learning rates (the NaN/inf guard)."""
        rollbacks = self.rollbacks + 1
        if rollbacks > self.config.max_rollbacks:
            raise TrainingDiverged(
                f"{self.run_dir}: {problem}; gave up after {self.config.max_rollbacks} rollbacks "
                "(lower train.lr_g / train.lr_d or enable train.grad_clip)"
            )
        lr_scale = self.lr_scale * self.config.nan_lr_factor
        self._load_latest()
        self.rollbacks, self.lr_scale = rollbacks, lr_scale
        logger.message(
            f"{problem}: rolled back to iteration {self.iteration}, learning rates x{lr_scale:.3g} "
            f"(rollback {rollbacks}/{self.config.max_rollbacks})"
        )
        return self._batches()


def _parametrized(model: nn.Module) -> set[str]:
    return {name for name, module in model.named_modules() if parametrize.is_parametrized(module, "weight")}


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random``."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)

