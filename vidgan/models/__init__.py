"""The model families, one module each (generator + discriminators + the family's losses).

A family module defines, on top of :mod:`vidgan.nn` and :mod:`vidgan.train`:

- a model class (subclass of :class:`~vidgan.models.base.GANModel`) with plain constructor
  arguments, its ``generator`` and ``discriminators``, and its inference methods;
- a trainer (subclass of :class:`~vidgan.train.trainer.GANTrainer`) that writes only
  ``dis_losses`` / ``gen_losses`` (and ``preview``), drawing randomness with ``self.noise``;
- dataclasses of its data settings and loss weights;
- ``FAMILY = Family(...)`` tying them together for ``vidgan train --config``.

Its presets live in ``configs/models/<family>_*.yaml``; ``configs/models/unit_test/<family>.yaml``
trains it for a few iterations on CPU in the test suite.
"""

#: Registered family name -> module (imported only when used).
FAMILIES: dict[str, str] = {
    "vid2vid": "vidgan.models.vid2vid",
    "pose_guided": "vidgan.models.pose_guided",
    "mocogan": "vidgan.models.mocogan",
    "dvdgan": "vidgan.models.dvdgan",
    "age_cgan": "vidgan.models.age_cgan",
    "tpgan": "vidgan.models.tpgan",
    "ref_warp": "vidgan.train.recipes.ref_warp",
}

#: Registered model name (``config.json``'s ``"model"``) -> the vidgan module defining it: the
#: only modules a model folder can cause to be imported.
MODELS: dict[str, str] = {
    "Vid2Vid": "vidgan.models.vid2vid",
    "RefWarp": "vidgan.models.ref_warp",
    "PoseGuidedGenerator": "vidgan.models.pose_guided",
    "MoCoGAN": "vidgan.models.mocogan",
    "DVDGAN": "vidgan.models.dvdgan",
    "FaceAger": "vidgan.models.age_cgan",
    "Frontalizer": "vidgan.models.tpgan",
}
