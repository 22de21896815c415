"""The network's modules: the decoder's written-out gradient against autograd."""

import pytest
import torch

from vqcodec.model import VQVAE, DecoderGradient, ModelConfig


@pytest.mark.parametrize("decoder_blocks", [0, 2])
def test_decoder_gradient_matches_autograd(decoder_blocks):
    torch.manual_seed(decoder_blocks)
    net = VQVAE(ModelConfig(channels=16, latent_dim=8, codebook_size=32, decoder_blocks=decoder_blocks)).eval()
    for p in net.decoder.parameters():  # away from the initial zeros and ones, so every term counts
        p.data.add_(0.02 * torch.randn_like(p))
    z = torch.randn(1, 8, 5, 7, requires_grad=True)
    target = torch.rand(1, 3, 40, 56)
    weight = (torch.rand(1, 1, 40, 56) > 0.3).float()
    y = net.decoder(z)
    ref, = torch.autograd.grad((weight * (y.clamp(0, 1) - target) ** 2).sum(), z)
    with torch.no_grad():
        pixels, grad = DecoderGradient(net.decoder)(z, target, weight)
    assert torch.equal(pixels, y.detach().clamp(0, 1))
    assert ((y < 0) | (y > 1)).any() and ((y > 0) & (y < 1)).float().mean() > 0.5  # both sides of the clamp
    assert torch.allclose(grad, ref, rtol=1e-4, atol=1e-5)
