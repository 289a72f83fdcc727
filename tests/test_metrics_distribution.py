"""Distribution metrics against known cases, and the feature networks' local loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from vidgan.data.synthetic import synthetic_frames
from vidgan.errors import MissingWeightsError
from vidgan.metrics import (
    I3D,
    InceptionV3,
    RandomFeatureNetwork,
    feature_statistics,
    fid,
    frames_to_tensor,
    frechet_distance,
    inception_score,
    kid,
)


def test_frechet_distance_of_diagonal_gaussians_is_analytic():
    # |mu1 - mu2|^2 + sum_i (s1_i + s2_i - 2 sqrt(s1_i s2_i)) = 5 + (1 + 9 - 6) + (4 + 16 - 16)
    value = frechet_distance(np.zeros(2), np.diag([1.0, 4.0]), np.array([1.0, 2.0]), np.diag([9.0, 16.0]))
    assert value == pytest.approx(13.0)


def test_frechet_distance_of_non_commuting_covariances_is_analytic():
    s1 = np.array([[2.0, 1.0], [1.0, 3.0]])
    s2 = np.array([[1.0, -0.5], [-0.5, 2.0]])
    product = s1 @ s2  # a 2x2 matrix with positive eigenvalues: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M))
    trace_root = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    expected = 0.25 + np.trace(s1) + np.trace(s2) - 2 * trace_root
    assert frechet_distance(np.zeros(2), s1, np.array([0.5, 0.0]), s2) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(np.ones(2), s1, np.ones(2), s1) == pytest.approx(0, abs=1e-9)


def test_frechet_distance_survives_singular_covariances():
    features = np.random.default_rng(0).normal(size=(5, 20))  # 5 samples in 20 dimensions: rank 4
    assert fid(features, features) == pytest.approx(0, abs=1e-6)
    assert fid(features, features + 1) == pytest.approx(20, rel=1e-6)  # only the means differ
    with pytest.raises(ValueError, match="N >= 2"):
        feature_statistics(features[:1])


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return frames_to_tensor(np.stack(list(synthetic_frames(24, 64, 64)))) * 2 - 1


def test_fid_of_a_set_against_itself_is_zero_with_random_features(images):
    net = RandomFeatureNetwork(seed=3)
    with torch.inference_mode():
        real = net(images).numpy()
        noisy = net((images + 0.2 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0))).clamp(-1, 1))
    scale = np.trace(feature_statistics(real)[1])
    assert abs(fid(real, real)) < 1e-6 * scale
    assert fid(real, noisy.numpy()) > 0.01 * scale


def test_kid_is_zero_for_one_distribution_and_positive_for_a_shifted_one():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 16)), rng.normal(size=(300, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=100)
    shifted, _ = kid(a, b + 0.5, subsets=20, subset_size=100)
    assert abs(same) < 2 * same_std + 1e-3
    assert shifted > 10 * max(abs(same), same_std)
    with pytest.raises(ValueError, match="at least 2"):
        kid(a[:1], b)


def test_inception_score_of_known_predictions():
    classes = 7
    uniform = np.full((50, classes), 1 / classes)
    assert inception_score(uniform, splits=5) == pytest.approx((1.0, 0.0))
    confident = np.tile(np.eye(classes), (5, 1))  # each of 5 splits predicts every class once, surely
    assert inception_score(confident, splits=5) == pytest.approx((classes, 0.0))
    with pytest.raises(ValueError, match="summing to 1"):
        inception_score(confident * 2)


def test_random_feature_network_is_fixed_by_its_seed_and_embeds_videos(images):
    videos = images[:16].reshape(2, 8, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(RandomFeatureNetwork(seed=1)(images), RandomFeatureNetwork(seed=1)(images))
        assert not torch.equal(RandomFeatureNetwork(seed=1)(images), RandomFeatureNetwork(seed=2)(images))
        net = RandomFeatureNetwork(dim=32, classes=5)
        features, logits = net.features_and_logits(images)
        assert features.shape == (24, 32) and logits.shape == (24, 5)
        still = videos[:, :1].expand(-1, 8, -1, -1, -1)
        assert net(videos).shape == (2, 64) and torch.all(net(still)[:, 32:] == 0)  # no motion, no change


def test_inception_v3_loads_a_local_state_dict(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"inception_v3_google-0cc3c7bd\.pth"):
        InceptionV3(weights=tmp_path)
    source = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False)
    torch.save(source.state_dict(), tmp_path / "inception_v3_google-0cc3c7bd.pth")
    net = InceptionV3(weights=tmp_path)
    assert torch.equal(net.classifier.weight, source.fc.weight)
    with torch.inference_mode():
        features, logits = net.features_and_logits(torch.zeros(1, 3, 40, 50))  # resized to 299x299
    assert features.shape == (1, 2048) and logits.shape == (1, 1000)


class FakeI3D(torch.nn.Module):
    """The calling convention of i3d_torchscript.pt: (N, 3, T, H, W) in, features out."""

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = False, return_features: bool = False):
        assert x.shape[1] == 3 and not rescale and resize and return_features
        return x.mean(dim=(2, 3, 4))


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning")
def test_i3d_loads_a_local_torchscript_file(tmp_path):
    with pytest.raises(MissingWeightsError, match=r"i3d_torchscript\.pt"):
        I3D(weights=tmp_path)
    torch.jit.script(FakeI3D()).save(str(tmp_path / "i3d_torchscript.pt"))
    videos = torch.tensor([-1.0, 0.0, 0.5]).view(1, 1, 3, 1, 1).expand(2, 9, 3, 8, 8)  # (N, T, 3, H, W)
    assert torch.equal(I3D(weights=tmp_path / "i3d_torchscript.pt")(videos), torch.tensor([[-1.0, 0.0, 0.5]] * 2))
