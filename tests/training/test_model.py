"""The network's modules: the decoder's written-out gradient against autograd."""

import pytest
import torch

from vqcodec.training.model import VQVAE, DecoderGradient, ModelConfig


@pytest.mark.parametrize("decoder_blocks, rate_sets", [(0, 0), (2, 0), (0, 3), (1, 3)])
def test_decoder_gradient_matches_autograd(decoder_blocks, rate_sets):
    torch.manual_seed(decoder_blocks)
    net = VQVAE(ModelConfig(channels=16, latent_dim=8, codebook_size=32, decoder_blocks=decoder_blocks,
                            rate_sets=rate_sets)).eval()
    for p in net.decoder.parameters():  # away from the initial zeros and ones, so every term counts
        p.data.add_((0.2 if p.dim() == 2 else 0.02) * torch.randn_like(p))  # the modulation's tables: more
    z = torch.randn(1, 8, 5, 7, requires_grad=True)
    target = torch.rand(1, 3, 40, 56)
    weight = (torch.rand(1, 1, 40, 56) > 0.3).float()
    table_set = torch.tensor([rate_sets - 1]) if rate_sets else None
    y = net.decoder(z, table_set)
    ref, = torch.autograd.grad((weight * (y.clamp(0, 1) - target) ** 2).sum(), z)
    with torch.no_grad():
        pixels, grad = DecoderGradient(net.decoder)(z, target, weight, table_set)
    assert torch.equal(pixels, y.detach().clamp(0, 1))
    assert ((y < 0) | (y > 1)).any() and ((y > 0) & (y < 1)).float().mean() > 0.5  # both sides of the clamp
    assert torch.allclose(grad, ref, rtol=1e-4, atol=1e-5)


def test_a_modulated_decoder_starts_as_the_plain_one_and_each_table_set_decodes_its_own_way():
    torch.manual_seed(0)
    plain = VQVAE(ModelConfig(channels=16, latent_dim=8, codebook_size=32)).eval()
    modulated = VQVAE(ModelConfig(channels=16, latent_dim=8, codebook_size=32, rate_sets=3)).eval()
    missing, unexpected = modulated.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(k.startswith("decoder.modulation.") for k in missing)
    z = torch.randn(2, 8, 4, 4)
    with torch.no_grad():
        assert torch.equal(modulated.decoder(z, torch.tensor([0, 2])), plain.decoder(z))
        modulated.decoder.modulation[2].shift[1].fill_(0.5)
        out = modulated.decoder(z, torch.tensor([0, 1]))  # each image its own table set
        assert torch.equal(out[0], plain.decoder(z)[0]) and not torch.allclose(out[1], plain.decoder(z)[1])
    with pytest.raises(ValueError, match="table set"):
        modulated.decoder(z)
