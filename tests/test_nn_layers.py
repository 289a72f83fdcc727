"""Shared layers (vidgan.nn): block shapes in 2D and 3D, conditional BN, spectral norm,
self-attention, ConvGRU, flow warping; autocast and a one-process DDP step."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.nn.utils import parametrize

from vidgan.nn import (
    ConditionalBatchNorm,
    ConvGRU,
    ConvNormAct,
    DiscriminatorResBlock,
    GANLoss,
    GeneratorResBlock,
    MultiScaleDiscriminator,
    PatchDiscriminator,
    SelfAttention2d,
    UNet,
    conv,
    flow_warp,
    r1_penalty,
    resize_flow,
    spectral_norm_all,
)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_conv_factory_dims_transpose_spectral():
    assert conv(3, 8, dims=2)(torch.randn(1, 3, 9, 9)).shape == (1, 8, 9, 9)
    assert conv(3, 8, 4, 2, dims=2)(torch.randn(1, 3, 8, 8)).shape == (1, 8, 4, 4)
    assert conv(3, 8, 4, 2, dims=3, transpose=True)(torch.randn(1, 3, 2, 4, 4)).shape == (1, 8, 4, 8, 8)
    assert parametrize.is_parametrized(conv(3, 8, spectral=True), "weight")
    with pytest.raises(ValueError, match="dims"):
        conv(3, 8, dims=1)


@pytest.mark.parametrize("norm", ["batch", "instance", "none"])
@pytest.mark.parametrize("activation", ["relu", "lrelu", "none"])
def test_conv_norm_act(norm, activation):
    layer = ConvNormAct(3, 4, 4, 2, norm=norm, activation=activation)
    assert layer(torch.randn(2, 3, 8, 8)).shape == (2, 4, 4, 4)
    assert (layer[0].bias is None) == (norm == "batch")


def test_conv_norm_act_rejects_unknown_names():
    with pytest.raises(ValueError, match="norm"):
        ConvNormAct(3, 4, norm="group")
    with pytest.raises(ValueError, match="activation"):
        ConvNormAct(3, 4, activation="gelu")


@pytest.mark.parametrize(
    ("dims", "up", "temporal", "shape_in", "shape_out"),
    [
        (2, True, False, (2, 16, 4, 4), (2, 8, 8, 8)),
        (2, False, False, (2, 16, 4, 4), (2, 8, 4, 4)),
        (3, True, False, (2, 16, 3, 4, 4), (2, 8, 3, 8, 8)),
        (3, True, True, (2, 16, 3, 4, 4), (2, 8, 6, 8, 8)),
    ],
)
def test_generator_block_shapes(dims, up, temporal, shape_in, shape_out):
    block = GeneratorResBlock(16, 8, up=up, dims=dims, num_classes=4, temporal=temporal)
    assert block(torch.randn(shape_in), torch.tensor([0, 3])).shape == shape_out


@pytest.mark.parametrize(
    ("dims", "down", "temporal", "shape_in", "shape_out"),
    [
        (2, True, False, (2, 3, 8, 8), (2, 8, 4, 4)),
        (2, False, False, (2, 3, 8, 8), (2, 8, 8, 8)),
        (3, True, False, (2, 3, 4, 8, 8), (2, 8, 4, 4, 4)),
        (3, True, True, (2, 3, 4, 8, 8), (2, 8, 2, 4, 4)),
    ],
)
def test_discriminator_block_shapes(dims, down, temporal, shape_in, shape_out):
    block = DiscriminatorResBlock(3, 8, down=down, dims=dims, preactivation=False, temporal=temporal)
    assert block(torch.randn(shape_in)).shape == shape_out


def test_unconditional_generator_block_rejects_cond():
    block = GeneratorResBlock(8, 8, spectral=False)
    assert block(torch.randn(2, 8, 4, 4)).shape == (2, 8, 8, 8)
    with pytest.raises(ValueError, match="not conditional"):
        block(torch.randn(2, 8, 4, 4), torch.tensor([0, 1]))


def test_conditional_batch_norm_uses_the_class():
    norm = ConditionalBatchNorm(8, num_classes=5)
    x = torch.randn(1, 8, 4, 4).expand(2, -1, -1, -1)  # the same sample twice
    out = norm(x, torch.tensor([1, 3]))
    assert not torch.allclose(out[0], out[1])
    same = norm(x, torch.tensor([2, 2]))
    torch.testing.assert_close(same[0], same[1])
    # The gain starts at 1 up to BigGAN's N(0, 0.02) offsets.
    assert (norm.gain.weight.abs() < 0.2).all()


def test_conditional_batch_norm_vector_cond_3d():
    norm = ConditionalBatchNorm(8, cond_dim=6, dims=3)
    x = torch.randn(1, 8, 2, 4, 4).expand(2, -1, -1, -1, -1)
    out = norm(x, torch.randn(2, 6))
    assert out.shape == (2, 8, 2, 4, 4)
    assert not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError, match="exactly one"):
        ConditionalBatchNorm(8, num_classes=3, cond_dim=6)


def test_spectral_norm_all_parametrises_every_layer_once():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3),
        nn.ConvTranspose2d(8, 8, 4),
        nn.Conv3d(8, 4, 1),
        nn.Linear(4, 2),
        ConditionalBatchNorm(4, num_classes=3),
    )
    kinds = (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.Linear, nn.Embedding)
    targets = [m for m in model.modules() if isinstance(m, kinds)]
    assert len(targets) == 6
    assert spectral_norm_all(model) is model
    spectral_norm_all(model)
    for module in targets:
        assert parametrize.is_parametrized(module, "weight")
        assert len(module.parametrizations.weight) == 1


def test_spectral_norm_bounds_the_largest_singular_value():
    layer = spectral_norm_all(nn.Conv2d(16, 32, 3))
    with torch.no_grad():
        layer.parametrizations.weight.original.mul_(10)
    layer.train()
    for _ in range(5):
        layer(torch.randn(1, 16, 6, 6))
    sigma = torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2)
    assert sigma.item() == pytest.approx(1.0, abs=1e-2)


def test_self_attention_is_identity_at_init():
    attention = SelfAttention2d(16, spectral=True)
    x = torch.randn(2, 16, 6, 5)
    torch.testing.assert_close(attention(x), x)
    with torch.no_grad():
        attention.gamma.fill_(1.0)
    out = attention(x)
    assert out.shape == x.shape and not torch.allclose(out, x)
    out.sum().backward()
    assert attention.gamma.grad is not None and attention.query.parametrizations.weight.original.grad is not None


def test_conv_gru_shape_and_memory():
    gru = ConvGRU(3, 5)
    x = torch.randn(2, 4, 3, 8, 8)
    out = gru(x)
    assert out.shape == (2, 4, 5, 8, 8)
    changed = x.clone()
    changed[:, 0] += 1.0  # only the first frame differs...
    assert not torch.allclose(gru(changed)[:, -1], out[:, -1])  # ...and the last state remembers it
    start = torch.randn(2, 5, 8, 8)
    assert not torch.allclose(gru(x, start)[:, 0], out[:, 0])


def test_unet_keeps_the_spatial_shape():
    unet = UNet(4, 3, channels=(8, 16, 32))
    out = unet(torch.randn(2, 4, 32, 24))
    assert out.shape == (2, 3, 32, 24)
    assert out.abs().max() <= 1
    with pytest.raises(ValueError, match="multiples of 8"):
        unet(torch.randn(1, 4, 30, 24))


@pytest.mark.parametrize(("dims", "shape"), [(2, (2, 3, 64, 48)), (3, (2, 3, 4, 32, 32))])
def test_multiscale_discriminator_scales_and_features(dims, shape):
    discriminator = MultiScaleDiscriminator(3, num_scales=3, channels=8, n_layers=3, dims=dims, spectral=True)
    outputs = discriminator(torch.randn(shape))
    assert len(outputs) == 3
    sizes = []
    for logits, features in outputs:
        assert logits.shape[:2] == (2, 1)
        assert len(features) == 4
        if dims == 3:
            assert logits.shape[2] == 4 and all(f.shape[2] == 4 for f in features)  # T is kept
        sizes.append(logits.shape[-1])
    assert sizes == sorted(sizes, reverse=True)


def test_patch_discriminator_is_pix2pixhd_sized():
    logits, features = PatchDiscriminator(6, channels=8)(torch.randn(1, 6, 64, 64))
    assert logits.shape == (1, 1, 11, 11)
    assert [f.shape[1] for f in features] == [8, 16, 32, 64]


def test_flow_warp_zero_flow_is_identity():
    image = torch.randn(2, 3, 7, 9)
    torch.testing.assert_close(flow_warp(image, torch.zeros(2, 2, 7, 9)), image)


def test_flow_warp_integer_flow_is_a_shift():
    image = torch.randn(2, 3, 10, 12)
    flow = torch.zeros(2, 2, 10, 12)
    flow[:, 0], flow[:, 1] = 2, -1  # sample (x + 2, y - 1)
    warped = flow_warp(image, flow, padding_mode="zeros")
    expected = torch.roll(image, shifts=(1, -2), dims=(2, 3))
    torch.testing.assert_close(warped[..., 1:, :-2], expected[..., 1:, :-2])


def test_flow_warp_half_pixel_interpolates_and_keeps_dtype():
    image = torch.arange(8.0).view(1, 1, 1, 8).expand(1, 1, 4, 8)
    flow = torch.zeros(1, 2, 4, 8)
    flow[:, 0] = 0.5
    torch.testing.assert_close(flow_warp(image, flow)[..., :-1], image[..., :-1] + 0.5)
    half = flow_warp(image.bfloat16(), flow)
    assert half.dtype == torch.bfloat16


def test_resize_flow_scales_magnitudes():
    flow = torch.stack([torch.full((6, 8), 4.0), torch.full((6, 8), -3.0)])[None]
    resized = resize_flow(flow, (12, 4))
    assert resized.shape == (1, 2, 12, 4)
    torch.testing.assert_close(resized[0, 0], torch.full((12, 4), 2.0))
    torch.testing.assert_close(resized[0, 1], torch.full((12, 4), -6.0))


def test_blocks_run_under_autocast():
    generator = GeneratorResBlock(8, 8, num_classes=3)
    attention = SelfAttention2d(8)
    discriminator = MultiScaleDiscriminator(8, num_scales=2, channels=8, n_layers=2, spectral=True)
    gru = ConvGRU(8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        image = attention(generator(torch.randn(2, 8, 8, 8), torch.tensor([0, 2])))
        logits = [out[0] for out in discriminator(image)]
        loss = GANLoss("hinge")(logits, real=True, for_discriminator=False)
        states = gru(image[:, None].expand(-1, 3, -1, -1, -1))
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    assert states.shape == (2, 3, 4, 16, 16) and torch.isfinite(states).all()
    loss.backward()


def test_one_process_ddp_step_with_spectral_norm_and_r1():
    dist.init_process_group("gloo", rank=0, world_size=1, store=dist.HashStore())
    try:
        generator = DistributedDataParallel(GeneratorResBlock(8, 3, num_classes=3))
        discriminator = DistributedDataParallel(DiscriminatorResBlock(3, 1, preactivation=False))
        loss = GANLoss("hinge")
        fake = generator(torch.randn(2, 8, 4, 4), torch.tensor([0, 2]))
        real = torch.randn(2, 3, 8, 8).requires_grad_()
        real_logits = discriminator(real)
        d_loss = loss(discriminator(fake.detach()), False, True) + loss(real_logits, True, True)
        (d_loss + r1_penalty(real_logits, real)).backward()
        loss(discriminator(fake), True, False).backward()
        weight = generator.module.conv1.parametrizations.weight.original
        assert weight.grad is not None and torch.isfinite(weight.grad).all()
    finally:
        dist.destroy_process_group()
