"""GAN losses, regularisers and the VGG19 perceptual loss (vidgan.nn) on known values; the
perceptual loss with a random VGG19 state dict, since nothing is downloaded."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.models import vgg19

from vidgan.errors import InputError, MissingWeightsError
from vidgan.nn import (
    GANLoss,
    MultiScaleDiscriminator,
    PerceptualLoss,
    feature_matching_loss,
    masked_l1,
    r1_penalty,
    total_variation_loss,
)
from vidgan.nn.perceptual import VGG19_FILE

REAL, FAKE = torch.full((2, 1, 3, 3), 2.0), torch.full((2, 1, 3, 3), -2.0)


def test_hinge_values():
    loss = GANLoss("hinge")
    assert loss(REAL, real=True, for_discriminator=True).item() == 0.0
    assert loss(FAKE, real=False, for_discriminator=True).item() == 0.0
    assert loss(torch.zeros(4), real=True, for_discriminator=True).item() == 1.0
    assert loss(torch.tensor([0.5, -3.0]), real=False, for_discriminator=True).item() == pytest.approx(0.75)
    # The generator's hinge loss is -mean(D(G(z))), not the discriminator's relu form.
    assert loss(torch.tensor([1.0, 3.0, -7.0]), real=True, for_discriminator=False).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="real=True"):
        loss(REAL, real=False, for_discriminator=False)


def test_nonsaturating_values():
    loss = GANLoss("nonsaturating")
    x = torch.tensor([-1.0, 0.0, 2.0])
    expected_real = -torch.log(torch.sigmoid(x)).mean()
    expected_fake = -torch.log(1 - torch.sigmoid(x)).mean()
    torch.testing.assert_close(loss(x, True, True), expected_real)
    torch.testing.assert_close(loss(x, False, True), expected_fake)
    torch.testing.assert_close(loss(x, True, False), expected_real)
    assert loss(torch.zeros(3), True, True).item() == pytest.approx(math.log(2))


def test_lsgan_values():
    loss = GANLoss("lsgan")
    x = torch.tensor([0.0, 2.0])
    assert loss(x, True, True).item() == pytest.approx(1.0)  # ((-1)^2 + 1^2) / 2
    assert loss(x, False, True).item() == pytest.approx(2.0)  # (0 + 4) / 2
    assert loss(x, True, False).item() == pytest.approx(1.0)


def test_gan_loss_averages_over_scales():
    loss = GANLoss("hinge")
    scales = [torch.zeros(2, 1, 4, 4), [torch.full((2, 1, 2, 2), -1.0), torch.full((2, 1, 2, 2), 0.5)]]
    # scale 0: 1; scale 1: mean(2, 0.5) = 1.25
    assert loss(scales, True, True).item() == pytest.approx((1 + 1.25) / 2)
    with pytest.raises(ValueError, match="empty"):
        loss([], True, True)
    with pytest.raises(ValueError, match="mode"):
        GANLoss("wgan")


@pytest.mark.parametrize("mode", ["hinge", "lsgan", "nonsaturating"])
def test_gan_loss_is_float32_under_autocast(mode):
    logits = torch.randn(2, 1, 4, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = logits.bfloat16()
        gan = GANLoss(mode)
        values = [gan(low, True, True), gan([low, low], False, True), gan(low, True, False)]
    assert all(v.dtype == torch.float32 for v in values)
    sum(values).backward()
    assert logits.grad is not None


def test_feature_matching():
    real = [[torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)], [torch.randn(2, 4, 4, 4)]]
    assert feature_matching_loss(real, real).item() == 0.0
    fake = [[f + 1 for f in real[0]], [real[1][0] + 3]]
    # Summed over layers, averaged over scales.
    assert feature_matching_loss(fake, real).item() == pytest.approx((2 + 3) / 2)
    real_grad = [[f.clone().requires_grad_() for f in scale] for scale in real]
    fake_grad = [[f.clone().requires_grad_() for f in scale] for scale in fake]
    feature_matching_loss(fake_grad, real_grad).backward()
    assert real_grad[0][0].grad is None and fake_grad[0][0].grad is not None
    with pytest.raises(ValueError, match="scales"):
        feature_matching_loss(fake, real[:1])


def test_losses_take_discriminator_outputs_as_they_are():
    discriminator = MultiScaleDiscriminator(3, num_scales=2, channels=4, n_layers=2, norm="none")
    real = torch.randn(2, 3, 32, 32, requires_grad=True)
    real_out, fake_out = discriminator(real), discriminator(torch.randn(2, 3, 32, 32))
    loss = GANLoss("lsgan")
    torch.testing.assert_close(loss(real_out, True, True), loss([out.logits for out in real_out], True, True))
    torch.testing.assert_close(
        feature_matching_loss(fake_out, real_out),
        feature_matching_loss([out.features for out in fake_out], [out.features for out in real_out]),
    )
    single = feature_matching_loss(fake_out[0], real_out[0])  # one PatchDiscriminator
    torch.testing.assert_close(single, feature_matching_loss([fake_out[0].features], [real_out[0].features]))
    torch.testing.assert_close(r1_penalty(real_out, real), r1_penalty([out.logits for out in real_out], real))


def test_r1_penalty_of_a_linear_discriminator():
    w = torch.randn(3, 4, 4, requires_grad=True)
    x = torch.randn(5, 3, 4, 4, requires_grad=True)
    logits = (x * w).flatten(1).sum(1)  # D(x) = sum(w * x)
    penalty = r1_penalty(logits, x)
    torch.testing.assert_close(penalty, w.detach().pow(2).sum())
    penalty.backward()  # create_graph=True: the penalty trains D
    torch.testing.assert_close(w.grad, 2 * w.detach())
    # A multi-scale list: D(x) is the sum of all logits, here 2 * sum(w * x).
    scaled = r1_penalty([logits[:, None], [(x * w).flatten(1)]], x)
    torch.testing.assert_close(scaled, 4 * w.detach().pow(2).sum())
    with pytest.raises(ValueError, match="require grad"):
        r1_penalty(logits, x.detach())


def test_total_variation_loss_per_pixel():
    assert total_variation_loss(torch.ones(2, 3, 5, 5)).item() == 0.0
    ramp = torch.arange(6.0).view(1, 1, 1, 6).expand(2, 3, 4, 6)  # +1 per column
    assert total_variation_loss(ramp).item() == pytest.approx(1.0)
    video = torch.arange(4.0).view(1, 1, 1, 4, 1).expand(1, 3, 2, 4, 5) * 2  # +2 per row
    assert total_variation_loss(video).item() == pytest.approx(2.0)


def test_masked_l1():
    pred, target = torch.zeros(1, 3, 2, 2), torch.zeros(1, 3, 2, 2)
    pred[:, :, 0, 0], pred[:, :, 1, 1] = 2.0, 10.0
    mask = torch.tensor([[[[1.0, 1.0], [0.0, 0.0]]]])
    assert masked_l1(pred, target, mask).item() == pytest.approx(1.0)  # (2 + 0) / 2 per channel
    assert masked_l1(pred, target, torch.zeros_like(mask)).item() == 0.0


@pytest.fixture(scope="module")
def random_vgg19(tmp_path_factory):
    """A VGG19 state dict with random weights, torchvision's key names, features only."""
    with torch.device("meta"):
        shapes = {key: value.shape for key, value in vgg19(weights=None).state_dict().items()}
    generator = torch.Generator().manual_seed(0)
    state = {
        key: torch.randn(shape, generator=generator) * 0.05 for key, shape in shapes.items() if key.startswith("features.")
    }
    path = tmp_path_factory.mktemp("weights") / VGG19_FILE
    torch.save(state, path)
    return path


def test_perceptual_loss_with_local_weights(random_vgg19):
    assert PerceptualLoss.available(random_vgg19)
    assert PerceptualLoss.available(random_vgg19.parent)  # a folder holding the file
    loss = PerceptualLoss(random_vgg19)
    assert not any(p.requires_grad for p in loss.parameters())
    loss.train()
    assert not loss.vgg.training
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(x, x).item() == 0.0
    pred = (x + 0.1 * torch.randn_like(x)).requires_grad_()
    value = loss(pred, x)
    assert value.dtype == torch.float32 and value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0


def test_perceptual_loss_layer_choice(random_vgg19):
    loss = PerceptualLoss(random_vgg19, layers=("relu2_2", "conv1_1"), layer_weights=(1.0, 0.5))
    assert len(loss.vgg) == 9  # truncated after relu2_2
    x = torch.rand(1, 3, 16, 16)
    expected = F.l1_loss(loss._features(x)[0], loss._features(-x)[0]) + 0.5 * F.l1_loss(
        loss._features(x)[1], loss._features(-x)[1]
    )
    torch.testing.assert_close(loss(x, -x), expected)
    video = torch.rand(1, 2, 3, 16, 16)
    assert loss(video, video.flip(1)).item() > 0  # (B, T, 3, H, W)
    with pytest.raises(ValueError, match="unknown VGG19 layers"):
        PerceptualLoss(random_vgg19, layers=("relu9_1",), layer_weights=(1.0,))


def test_perceptual_loss_missing_weights(tmp_path, monkeypatch):
    # torch.hub.get_dir ignores TORCH_HOME once another test called torch.hub.set_dir: patch it
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "torch" / "hub"))
    assert not PerceptualLoss.available()
    with pytest.raises(MissingWeightsError, match=str(tmp_path / "torch" / "hub" / "checkpoints")):
        PerceptualLoss()
    with pytest.raises(MissingWeightsError, match=VGG19_FILE):
        PerceptualLoss(tmp_path / "nowhere.pth")


def test_perceptual_loss_rejects_a_foreign_file(tmp_path):
    path = tmp_path / VGG19_FILE
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="size mismatch for 0.weight"):
        PerceptualLoss(path)
    torch.save({"classifier.0.weight": torch.zeros(1)}, path)
    with pytest.raises(InputError, match="no features.0.weight"):
        PerceptualLoss(path)
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError, match="weights_only"):
        PerceptualLoss(path)


def test_identity_loss_from_a_torchscript_file(tmp_path):
    from vidgan.errors import VidganError
    from vidgan.nn.identity import IdentityLoss, identity_loss_or_none

    torch.manual_seed(0)
    embedding = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.Flatten(1))
    torch.jit.save(torch.jit.trace(embedding, torch.zeros(1, 3, 16, 16)), str(tmp_path / "identity.pt"))
    loss = IdentityLoss(tmp_path, input_size=16)  # a folder holding identity.pt
    faces = torch.rand(2, 3, 32, 32) * 2 - 1
    assert loss(faces, faces).abs().item() < 1e-6  # same faces, same identity
    moved = faces.clone().requires_grad_(True)
    value = loss(moved.flip(-1), faces)
    value.backward()
    assert value.item() > 0 and moved.grad.abs().sum() > 0  # gradients reach the images
    assert all(not p.requires_grad for p in loss.network.parameters())  # the network stays frozen
    assert identity_loss_or_none(None) is None
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(VidganError, match="bad.pt"):
        IdentityLoss(tmp_path / "bad.pt")
    with pytest.raises(MissingWeightsError, match="identity.pt"):
        IdentityLoss(tmp_path / "nowhere")
