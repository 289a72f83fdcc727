"""The model families' networks and inference, one module each: :mod:`vidgan.models.<family>`.

A model module builds only on :mod:`vidgan.nn`, :mod:`vidgan.keypoints`, :mod:`vidgan.io`,
:mod:`vidgan.errors`, other model modules and third-party packages. It defines a model class
(subclass of :class:`~vidgan.models.base.GANModel`) with plain constructor arguments, its
``generator`` and ``discriminators``, and its inference methods; it imports nothing of training,
data or metrics (``tests/test_layers.py``), so a model folder loads without :mod:`vidgan.train`.

Each family's training recipe is :mod:`vidgan.train.recipes.<family>`: a trainer (subclass of
:class:`~vidgan.train.trainer.GANTrainer`) that writes only ``dis_losses`` / ``gen_losses`` (and
``preview``), drawing randomness with ``self.noise``; dataclasses of its data settings and loss
weights; the dataset binding; and ``FAMILY = Family(...)`` tying them together for ``vidgan
train --config``.

Its presets live in ``configs/models/<family>_*.yaml``; ``configs/models/unit_test/<family>.yaml``
trains it for a few iterations on CPU in the test suite.
"""

#: Registered family name -> its recipe module, holding ``FAMILY`` (imported only when used).
FAMILIES: dict[str, str] = {
    "vid2vid": "vidgan.train.recipes.vid2vid",
    "pose_guided": "vidgan.train.recipes.pose_guided",
    "mocogan": "vidgan.train.recipes.mocogan",
    "dvdgan": "vidgan.train.recipes.dvdgan",
    "age_cgan": "vidgan.train.recipes.age_cgan",
    "tpgan": "vidgan.train.recipes.tpgan",
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
