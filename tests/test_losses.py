import pytest
import torch

from stdrc_lib.core import losses
from stdrc_lib.core import reference as R
from stdrc_lib.toy.readout import Readout


def test_x0_estimate_inverts_flow_matching():
    g = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(2, 16, 3, 4, 4, generator=g), torch.randn(2, 16, 3, 4, 4, generator=g)
    sigma = torch.tensor([0.2, 0.9])
    x_s = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1, 1) * eps
    assert torch.allclose(losses.x0_estimate(x_s, eps - x0, sigma), x0, atol=1e-5)
    assert losses.flow_matching(eps - x0, eps, x0) == 0


def test_identity_loss_sends_gradient_into_the_transformer(toy):
    """L_id reaches the transformer's parameters through x̂₀ = x_σ − σ·v̂ and the VAE decoder."""
    from conftest import coords_for, forward

    torch.manual_seed(0)
    readout = Readout().eval()
    x = torch.randn(2, 48, 16)
    ref = torch.randn(2, 16, 16)
    c = coords_for(toy)
    sigma = torch.tensor([0.3, 0.8])
    toy.transformer.zero_grad()
    with torch.enable_grad():
        n_v = 48
        tokens = R.concat_tokens(x, [ref])
        ts = R.token_timesteps(sigma, n_v, 16)
        text, tm = toy.text_encoder.encode(["a person smiling"] * 2)
        from stdrc_lib.core.backbone import transformer_forward

        v = R.strip_tokens(transformer_forward(toy.transformer, tokens, text, ts, sigma, c, tm), n_v)
        x0_hat = R.unpack(losses.x0_estimate(x, v, sigma), (3, 4, 4))
        ref_emb = readout(torch.zeros(2, 3, 64, 64))["embedding"].detach()
        embed = lambda im: readout(torch.nn.functional.interpolate(im, size=64))["embedding"]  # noqa: E731
        loss = losses.identity_loss(toy.vae, embed, x0_hat, ref_emb, sigma, sigma_id=0.5)
        loss.backward()
    grads = [p.grad.abs().sum() for p in toy.transformer.parameters() if p.grad is not None]
    assert loss.item() > 0 and len(grads) > 0 and sum(grads) > 0
    toy.transformer.zero_grad()
    del forward


def test_identity_loss_gate():
    x0_hat = torch.randn(2, 16, 2, 4, 4, requires_grad=True)
    out = losses.identity_loss(None, None, x0_hat, torch.randn(2, 8), torch.tensor([0.9, 0.95]), sigma_id=0.5)
    assert out.item() == 0.0


def test_weighted_flow_matching_reduces_to_the_mean_and_weights_tokens():
    from stdrc_lib.core.losses import flow_matching

    g = torch.Generator().manual_seed(0)
    v, n, x = (torch.randn(2, 6, 4, generator=g) for _ in range(3))
    plain = flow_matching(v, n, x)
    assert torch.allclose(flow_matching(v, n, x, torch.full((2, 6), 3.0)), plain)
    w = torch.zeros(2, 6)
    w[0, 2] = 1.0  # only one token counts
    assert torch.allclose(flow_matching(v, n, x, w), ((v - (n - x)) ** 2)[0, 2].mean())
    with pytest.raises(ValueError, match="weight"):
        flow_matching(v, n, x, torch.ones(2, 5))


def test_face_token_weights_cover_the_face_box():
    from stdrc_lib.core.reference import face_token_weights

    boxes = torch.tensor([[0.25, 0.25, 0.2, 0.2]]).repeat(17, 1)[None]  # (1, 17, 4): face in the top-left
    boxes[0, 16, :2] = 0.75  # ...moving to the bottom-right by the last frame
    w = face_token_weights(boxes, (5, 8, 8), 4, face_weight=5.0).view(5, 8, 8)
    assert set(w.unique().tolist()) == {1.0, 5.0}
    assert w[0, 2, 2] == 5 and w[0, 6, 6] == 1  # latent frame 0 ← pixel frame 0
    assert w[4, 6, 6] == 5 and w[4, 2, 2] == 1  # latent frame 4 ← pixel frame 16
    assert (w[0] == 5).sum() == 4  # 0.2 · 1.3 of 8 tokens ≈ 2 per side
    with pytest.raises(ValueError, match="boxes"):
        face_token_weights(boxes[0], (5, 8, 8), 4, face_weight=5.0)
    with pytest.raises(ValueError, match="face_weight"):
        face_token_weights(boxes, (5, 8, 8), 4, face_weight=0.0)
