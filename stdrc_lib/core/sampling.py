"""Flow-matching Euler sampling with three guidance streams run as one batch.

Flow matching (LTX convention): ``x_σ = (1 − σ)·x₀ + σ·ε`` and the model predicts
``v = ε − x₀ = dx_σ/dσ``. One Euler step from σ to σ' is ``x ← x + (σ' − σ)·v̂`` (diffusers'
``FlowMatchEulerDiscreteScheduler`` does exactly this), with ``v̂`` the guided velocity of
:mod:`stdrc_lib.core.guidance`.

Per step the streams ``v(∅,∅)``, ``v(r,∅)`` (or ``v(∅,c)``) and ``v(r,c)`` are stacked along the
batch. All rows carry the reference tokens; rows where the reference is absent block
video→reference attention with ``video_self_attention_mask``, which equals removing the tokens.
Streams whose guidance weight is 0 at this σ are not run.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

from . import guidance as G
from . import positions as P
from . import reference as R
from .backbone import transformer_forward
from .config import SAMPLING_STEPS
from .refcache import record_reference, reference_kv_cache, video_forward
from .validation import check_finite, check_generator, check_positive_int


@dataclass
class Conditioning:
    """Everything a clip is conditioned on, for a batch of B clips.

    Attributes:
        text: ``(B, L, D)`` prompt embeddings and ``text_mask`` ``(B, L)``.
        null_text: ``(B, L', D)`` embeddings of the null / negative prompt and its mask.
        refs: clean reference tokens, one ``(B, Hr·Wr, C)`` tensor per reference.
        ref_grids: the latent ``(Hr, Wr)`` of each reference.
        first_frame: optional clean tokens ``(B, H·W, C)`` of latent frame 0 (image-to-video, LTX-2's way: they
            replace the video's frame 0 at every step, with timestep 0, and the model continues them).
    """

    text: torch.Tensor
    text_mask: torch.Tensor
    null_text: torch.Tensor
    null_mask: torch.Tensor
    refs: list[torch.Tensor] = field(default_factory=list)
    ref_grids: list[tuple[int, int]] = field(default_factory=list)
    first_frame: torch.Tensor | None = None

    def __post_init__(self) -> None:
        b = self.text.shape[0]
        if self.first_frame is not None:
            if self.first_frame.ndim != 3 or self.first_frame.shape[0] != b:
                raise ValueError(
                    f"`first_frame` must be frame-0 tokens (B={b}, H·W, C), got {tuple(self.first_frame.shape)}."
                )
            check_finite(self.first_frame, "first_frame")
        if self.text.ndim != 3 or self.null_text.ndim != 3:
            raise ValueError(
                f"`text` and `null_text` must be (B, L, D), got {tuple(self.text.shape)} and "
                f"{tuple(self.null_text.shape)}."
            )
        if self.null_text.shape[0] != b:
            raise ValueError(f"`null_text` batch {self.null_text.shape[0]} != `text` batch {b}.")
        if len(self.refs) != len(self.ref_grids):
            raise ValueError(f"`refs` ({len(self.refs)}) and `ref_grids` ({len(self.ref_grids)}) must pair up.")
        for i, (r, g) in enumerate(zip(self.refs, self.ref_grids)):
            if r.ndim != 3 or r.shape[0] != b or r.shape[1] != g[0] * g[1]:
                raise ValueError(
                    f"reference {i} tokens must be (B={b}, {g[0] * g[1]}, C) for grid {g}, got {tuple(r.shape)}; "
                    "the number of references must match the number of prompts."
                )
            check_finite(r, f"refs[{i}]")
        check_finite(self.text, "text")
        check_finite(self.null_text, "null_text")

    @property
    def batch_size(self) -> int:
        return self.text.shape[0]

    @property
    def n_ref(self) -> int:
        return sum(r.shape[1] for r in self.refs)

    def clean_video(self, n_video: int, device) -> torch.Tensor | None:
        """``(B, N_v)`` booleans of the video tokens given clean (frame 0 for image-to-video), or None."""
        if self.first_frame is None:
            return None
        mask = torch.zeros(self.batch_size, n_video, dtype=torch.bool, device=device)
        mask[:, : self.first_frame.shape[1]] = True  # frame 0's tokens come first
        return mask


@dataclass
class SampleOutput:
    latents: torch.Tensor  # (B, C, F, H, W), normalized
    velocities: list[dict[str, torch.Tensor]] | None = None  # per step: stream name → (B, N_v, C)


def stream_name(stream: tuple[bool, bool]) -> str:
    r, c = stream
    return f"v({'r' if r else '∅'},{'c' if c else '∅'})"


def _pad_text(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    L = max(t.shape[1] for t, _ in items)
    embs, masks = [], []
    for t, m in items:
        pad = L - t.shape[1]
        embs.append(torch.nn.functional.pad(t, (0, 0, 0, pad)))
        masks.append(torch.nn.functional.pad(m, (0, pad)))
    return torch.cat(embs), torch.cat(masks)


def stream_velocities(
    transformer,
    x: torch.Tensor,
    sigma: float,
    cond: Conditioning,
    coords: torch.Tensor,
    streams: list[tuple[bool, bool]],
    batched: bool = True,
    ref_self_only: bool = False,
    attention_kwargs: dict | None = None,
) -> list[torch.Tensor]:
    """Velocities ``(B, N_v, C)`` of each requested stream at noise level σ.

    Args:
        x: noisy video tokens ``(B, N_v, C)``.
        coords: ``(B, 3, N_v + N_r, 2)`` coordinates of ``[video | references]``.
        streams: ``(reference present, text present)`` pairs.
        batched: one forward for all streams (masking absent references) or one per stream
            (removing absent references).
    """
    b, n_v, _ = x.shape
    refs = cond.refs
    if not refs:  # no reference given: every stream is reference-free
        streams_eff = [(False, c) for _, c in streams]
    else:
        streams_eff = list(streams)
    if not batched:
        return [
            _one_stream(transformer, x, sigma, cond, coords, s, ref_self_only, attention_kwargs) for s in streams_eff
        ]
    k = len(streams_eff)
    tokens = R.concat_tokens(x, refs).repeat(k, 1, 1)  # (k·B, N, C)
    n = tokens.shape[1]
    text, tmask = _pad_text(
        [(cond.text, cond.text_mask) if c else (cond.null_text, cond.null_mask) for _, c in streams_eff]
    )
    present = torch.tensor([r for r, _ in streams_eff]).repeat_interleave(b)
    mask = None
    if refs and (not present.all() or ref_self_only):
        mask = R.reference_mask(n_v, n - n_v, present, ref_self_only).to(x.device, x.dtype)
    sig = torch.full((k * b,), float(sigma), device=x.device)
    clean = cond.clean_video(n_v, x.device)
    ts = R.token_timesteps(sig, n_v, n - n_v, None if clean is None else clean.repeat(k, 1)).to(x.device)
    v = transformer_forward(
        transformer, tokens, text, ts, sig, coords.repeat(k, 1, 1, 1), tmask, mask, attention_kwargs
    )
    return list(R.strip_tokens(v, n_v).float().chunk(k))


def _one_stream(transformer, x, sigma, cond, coords, stream, ref_self_only, attention_kwargs):
    b, n_v, _ = x.shape
    r, c = stream
    tokens = R.concat_tokens(x, cond.refs) if r else x
    n = tokens.shape[1]
    text, tmask = (cond.text, cond.text_mask) if c else (cond.null_text, cond.null_mask)
    mask = None
    if r and ref_self_only:
        mask = R.reference_mask(n_v, n - n_v, torch.ones(b, dtype=torch.bool), True).to(x.device, x.dtype)
    sig = torch.full((b,), float(sigma), device=x.device)
    ts = R.token_timesteps(sig, n_v, n - n_v, cond.clean_video(n_v, x.device)).to(x.device)
    v = transformer_forward(transformer, tokens, text, ts, sig, coords[:, :, :n], tmask, mask, attention_kwargs)
    return R.strip_tokens(v, n_v).float()


def _isolated_velocities(transformer, state, x, sigma, cond, coords, streams, batched):
    """Velocities of ``streams`` for an isolated-reference model, reading the reference keys and
    values recorded in ``state`` (cache rows ``[prompt rows | null-prompt rows]``)."""
    b, n_v, _ = x.shape
    present = bool(cond.refs)
    rows = [
        (torch.arange(b) + (0 if c else b)) if (r and present) else torch.full((b,), -1, dtype=torch.long)
        for r, c in streams
    ]
    texts = [(cond.text, cond.text_mask) if c else (cond.null_text, cond.null_mask) for _, c in streams]
    vid_coords = coords[:, :, :n_v]
    clean = cond.clean_video(n_v, x.device)
    if not batched:
        return [
            video_forward(transformer, state, x, t, m, sigma, vid_coords, rw, clean_video=clean).float()
            for (t, m), rw in zip(texts, rows)
        ]
    k = len(streams)
    text, tmask = _pad_text(texts)
    clean_k = None if clean is None else clean.repeat(k, 1)
    v = video_forward(
        transformer, state, x.repeat(k, 1, 1), text, tmask, sigma, vid_coords.repeat(k, 1, 1, 1), torch.cat(rows),
        clean_video=clean_k,
    )  # fmt: skip
    return list(v.float().chunk(k))


def _record_isolated(transformer, state, cond, coords, n_v):
    """Run the isolated reference pass for both text streams (prompt rows, then null-prompt rows)."""
    if not cond.refs:
        return
    refs = R.concat_tokens(cond.refs[0], cond.refs[1:]) if len(cond.refs) > 1 else cond.refs[0]
    text, tmask = _pad_text([(cond.text, cond.text_mask), (cond.null_text, cond.null_mask)])
    record_reference(transformer, state, refs.repeat(2, 1, 1), text, tmask, coords[:, :, n_v:].repeat(2, 1, 1, 1))


def make_scheduler(num_steps: int, shift: float = 1.0):
    from diffusers import FlowMatchEulerDiscreteScheduler

    check_positive_int(num_steps, "num_steps")
    sched = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    sched.set_timesteps(num_steps)
    return sched


@torch.no_grad()
def sample(
    transformer,
    cond: Conditioning,
    video_grid: tuple[int, int, int],
    num_steps: int = SAMPLING_STEPS,
    guidance: G.GuidanceConfig = G.GuidanceConfig(),
    positions: P.PositionConfig = P.PositionConfig(),
    generator: torch.Generator | None = None,
    batched: bool = True,
    ref_self_only: bool = False,
    return_velocities: bool = False,
    progress: bool = True,
    latents: torch.Tensor | None = None,
    scheduler=None,
    callback_on_step_end=None,
    isolated_reference: bool = False,
    cache_reference: bool = True,
) -> SampleOutput:
    """Generate latents for ``cond`` with three-stream guidance and Euler steps.

    Args:
        video_grid: latent ``(F, H, W)``.
        generator: explicit ``torch.Generator`` for the initial noise (reproducible runs).
        latents: optional starting noise ``(B, C, F, H, W)`` instead of drawing it.
        return_velocities: keep every stream's velocity at every step.
        callback_on_step_end: ``f(step, sigma_next, {"latents": (B, C, F, H, W)}) -> dict | None``
            after every step; a returned ``"latents"`` replaces the current ones (diffusers' hook).
        isolated_reference: the model was trained with the reference in its own pass
            (``TrainConfig.isolated_reference``, see :mod:`stdrc_lib.core.refcache`); its keys and
            values are then computed once per run (``cache_reference``) or, for checking, every step.
    """
    check_positive_int(num_steps, "num_steps")
    check_generator(generator)
    f, h, w = video_grid
    b = cond.batch_size
    c = transformer.config.in_channels
    device = next(transformer.parameters()).device
    dtype = next(transformer.parameters()).dtype
    if latents is None:
        latents = torch.randn((b, c, f, h, w), generator=generator, device=generator.device if generator else "cpu")
    if latents.shape != (b, c, f, h, w):
        raise ValueError(f"`latents` must be {(b, c, f, h, w)}, got {tuple(latents.shape)}.")
    check_finite(latents, "latents")
    x = R.pack(latents).to(device, torch.float32)  # (B, F*H*W, C)
    given = None
    if cond.first_frame is not None:  # image-to-video: frame 0 is given clean and stays so
        if cond.first_frame.shape[1:] != (h * w, c):
            raise ValueError(
                f"`first_frame` must hold the {h * w} tokens of latent frame 0, (B, {h * w}, {c}), "
                f"got {tuple(cond.first_frame.shape)}."
            )
        given = cond.first_frame.to(device, torch.float32)
        x = torch.cat([given, x[:, h * w :]], dim=1)
    coords = P.build_coords(transformer.rope, b, video_grid, cond.ref_grids, positions, device)
    streams = G.STREAMS[guidance.order]
    sched = scheduler or make_scheduler(num_steps)
    sigmas = sched.sigmas.tolist()
    trace = [] if return_velocities else None
    if isolated_reference and ref_self_only:
        raise ValueError(
            "`ref_self_only` is the mask form of a joint model; do not combine it with `isolated_reference`."
        )
    with contextlib.ExitStack() as stack:
        state = None
        if isolated_reference:
            state = stack.enter_context(reference_kv_cache(transformer))
        for i in tqdm(range(num_steps), desc="sampling", disable=not progress, leave=False):
            sigma, sigma_next = sigmas[i], sigmas[i + 1]
            weights = guidance.weights_at(sigma)
            need = [s for s, wt in zip(streams, weights) if wt != 0 or return_velocities]
            if state is None:
                vs = stream_velocities(transformer, x.to(dtype), sigma, cond, coords, need, batched, ref_self_only)
            else:
                if i == 0 or not cache_reference:
                    _record_isolated(transformer, state, cond, coords, x.shape[1])
                vs = _isolated_velocities(transformer, state, x.to(dtype), sigma, cond, coords, need, batched)
            by_stream = dict(zip(need, vs))
            v = G.combine_weighted([by_stream.get(s) for s in streams], weights)
            if guidance.rescale > 0 and streams[-1] in by_stream:  # streams[-1] is v(r,c) in both orders
                v = G.rescale(v, by_stream[streams[-1]], guidance.rescale)
            if trace is not None:
                trace.append({stream_name(s): by_stream[s].cpu() for s in need})
            x = x + (sigma_next - sigma) * v  # Euler step in σ
            if given is not None:
                x = torch.cat([given, x[:, h * w :]], dim=1)
            if callback_on_step_end is not None:
                ret = callback_on_step_end(i, sigma_next, {"latents": R.unpack(x, video_grid)})
                if ret and "latents" in ret:
                    x = R.pack(ret["latents"]).to(device, torch.float32)
    return SampleOutput(R.unpack(x, video_grid), trace)
