"""Gradient routing of the VQ-VAE losses, nearest-code search, residual stacking."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.model import VQVAE, ModelConfig
from vqcodec.quantizer import ResidualVQ, init_from_latents, kmeans, nearest_code, restart_dead_codes

CFG = ModelConfig(channels=8, latent_dim=4, stages=3, codebook_size=8)


def _grads(net: VQVAE, loss: torch.Tensor) -> dict[str, bool]:
    net.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    has = lambda mod: any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())  # noqa: E731
    return {"encoder": has(net.encoder), "codebook": has(net.quantizer), "decoder": has(net.decoder)}


def _forward():
    torch.manual_seed(0)
    net = VQVAE(CFG)
    x = torch.rand(2, 3, 16, 16)
    y, q = net(x, num_stages=3)
    return net, x, y, q


def test_codebook_loss_moves_only_the_codebook():
    net, _, _, q = _forward()
    assert _grads(net, q.codebook_loss) == {"encoder": False, "codebook": True, "decoder": False}


def test_commitment_loss_moves_only_the_encoder():
    net, _, _, q = _forward()
    assert _grads(net, q.commitment_loss) == {"encoder": True, "codebook": False, "decoder": False}


def test_reconstruction_reaches_encoder_by_straight_through_not_codebook():
    net, x, y, _ = _forward()
    assert _grads(net, ((y - x) ** 2).mean()) == {"encoder": True, "codebook": False, "decoder": True}


def test_straight_through_passes_decoder_gradient_unchanged():
    rvq = ResidualVQ(2, 8, 4)
    z = torch.randn(1, 4, 3, 3, requires_grad=True)
    out = rvq(z)
    g = torch.randn_like(out.quantized)
    (out.quantized * g).sum().backward()
    assert torch.equal(z.grad, g)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 20), st.integers(0, 2**31 - 1))
def test_nearest_code_is_the_l2_argmin(n, d, k, seed):
    g = torch.Generator().manual_seed(seed)
    v, cb = torch.randn(n, d, generator=g), torch.randn(k, d, generator=g)
    expected = torch.cdist(v.double(), cb.double()).argmin(1)
    got = nearest_code(v, cb)
    # ties within float error may pick either; the distances must then be equal
    dist = torch.cdist(v.double(), cb.double())
    assert torch.allclose(dist.gather(1, got[:, None]), dist.gather(1, expected[:, None]), atol=1e-5)


def test_quality_levels_use_the_first_stages_and_refine():
    torch.manual_seed(1)
    rvq = ResidualVQ(4, 16, 4).eval()
    z = torch.randn(1, 4, 8, 8)
    init_from_latents(rvq, z)
    errors = []
    for q in range(1, 5):
        idx = rvq.encode(z, q)
        assert idx.shape == (1, q, 8, 8)
        assert torch.equal(idx, rvq.encode(z, 4)[:, :q])  # greedy stages: a prefix
        errors.append(((rvq.decode(idx) - z) ** 2).mean().item())
    assert errors == sorted(errors, reverse=True) and errors[-1] < errors[0]


def test_forward_with_stage_counts_matches_encode_decode():
    torch.manual_seed(2)
    rvq = ResidualVQ(3, 8, 4).eval()
    z = torch.randn(3, 4, 5, 5)
    out = rvq(z, torch.tensor([1, 2, 3]))
    for b, q in enumerate([1, 2, 3]):
        assert torch.allclose(out.quantized[b], rvq.decode(rvq.encode(z[b : b + 1], q))[0], atol=1e-6)


def test_forward_with_per_position_stage_counts_sums_that_many_codes():
    torch.manual_seed(3)
    rvq = ResidualVQ(3, 8, 4).eval()
    z = torch.randn(2, 4, 3, 5)
    n = torch.randint(1, 4, (2, 3, 5))
    out = rvq(z, n)
    full = rvq.encode(z, 3)
    for s in range(1, 4):
        ref = rvq.decode(full[:, :s])
        mask = (n == s)[:, None].expand_as(ref)
        assert torch.allclose(out.quantized[mask], ref[mask], atol=1e-6)


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(pts, 3, generator=g)
    assert torch.cdist(centres, found).min(1).values.max() < 0.2


def test_dead_codes_are_restarted_onto_inputs():
    rvq = ResidualVQ(1, 4, 2)
    rvq.stages[0].codebook.data = torch.tensor([[0.0, 0.0], [100.0, 100.0], [-100.0, 50.0], [0.1, 0.1]])
    z = torch.randn(1, 2, 4, 4) * 0.01
    for _ in range(500):
        rvq.stages[0].track_usage(rvq.stages[0].encode(z.permute(0, 2, 3, 1).reshape(-1, 2)))
    restarted = restart_dead_codes(rvq, z, threshold=0.01)
    assert restarted[0] >= 2
    assert rvq.stages[0].codebook.abs().max() < 1.0  # far-away codes moved onto the data
