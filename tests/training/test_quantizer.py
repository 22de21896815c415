"""Gradient routing of the VQ-VAE losses, nearest and entropy-constrained code choice."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from vqcodec.training.model import VQVAE, ModelConfig
from vqcodec.training.quantizer import ProductVQ, kmeans, nearest_code

CFG = ModelConfig(channels=8, latent_dim=4, sub_dim=2, codebook_size=8)


def _grads(net: VQVAE, loss: torch.Tensor) -> dict[str, bool]:
    net.zero_grad(set_to_none=True)
    loss.backward(retain_graph=True)
    has = lambda mod: any(p.grad is not None and p.grad.abs().sum() > 0 for p in mod.parameters())  # noqa: E731
    return {"encoder": has(net.encoder), "codebook": has(net.quantizer), "decoder": has(net.decoder)}


def _forward():
    torch.manual_seed(0)
    net = VQVAE(CFG)
    x = torch.rand(2, 3, 16, 16)
    y, q = net(x, lam=torch.tensor([0.0, 0.1]))
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
    vq = ProductVQ(4, 2, 8)
    z = torch.randn(1, 4, 3, 3, requires_grad=True)
    out = vq(z)
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


def test_assign_is_the_entropy_constrained_argmin_per_image():
    torch.manual_seed(1)
    q = ProductVQ(6, 2, 8)
    q.usage.copy_(torch.rand(3, 8) + 0.01)
    v = torch.randn(2, 5, 3, 2)
    lam = torch.tensor([0.0, 0.7])
    got = q.assign(v, lam)
    cost = ((v[:, :, :, None, :] - q.codebooks.detach()[None, None]) ** 2).sum(-1)  # (B, P, M, K)
    cost = cost + lam.view(2, 1, 1, 1) * q.usage_bits()[None, None]
    assert torch.allclose(cost.gather(-1, got[..., None]), cost.min(-1, keepdim=True).values, atol=1e-5)


def test_a_large_rate_weight_picks_cheap_codes():
    q = ProductVQ(1, 1, 4)
    q.codebooks.data = torch.tensor([[[-1.0], [0.0], [1.0], [2.0]]])
    q.usage.copy_(torch.tensor([[0.01, 0.97, 0.01, 0.01]]))
    v = torch.tensor([-0.9, 0.8, 1.9]).view(1, 3, 1, 1)
    assert q.assign(v, 0.0).flatten().tolist() == [0, 2, 3]
    assert q.assign(v, 10.0).flatten().tolist() == [1, 1, 1]


def test_lookup_inverts_split_for_code_latents():
    torch.manual_seed(2)
    q = ProductVQ(4, 2, 8)
    idx = torch.randint(0, 8, (2, 2, 3, 5))
    z = q.lookup(idx)
    assert z.shape == (2, 4, 3, 5)
    assert torch.equal(q.merge(q.assign(q.split(z)), 3, 5), idx)


def test_kmeans_finds_separated_clusters():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    pts = torch.cat([c + 0.1 * torch.randn(50, 2, generator=g) for c in centres])
    found = kmeans(pts, 3, generator=g)
    assert torch.cdist(centres, found).min(1).values.max() < 0.2


def test_init_from_latents_sorts_one_dimensional_codebooks():
    torch.manual_seed(3)
    q = ProductVQ(3, 1, 16)
    q.init_from_latents(torch.randn(2, 3, 8, 8))
    cb = q.codebooks.detach()[:, :, 0]
    assert (cb[:, 1:] >= cb[:, :-1]).all()
