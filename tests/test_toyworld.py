from pathlib import Path

import numpy as np
import pytest
import torch

from stdrc_lib.toy import (
    HELD_OUT_IDENTITIES,
    HELD_OUT_PROMPTS,
    IDENTITY_ATTRS,
    NUM_IDENTITIES,
    NUM_PROMPTS,
    VOCAB,
    Identity,
    Prompt,
    render_clip,
    render_eval_reference,
    split_indices,
)
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.render import CLASSIC, Layout, render


def test_world_size_and_splits():
    assert len(IDENTITY_ATTRS) >= 8 and NUM_IDENTITIES >= 2000
    assert len(HELD_OUT_IDENTITIES) >= 0.1 * NUM_IDENTITIES
    tr, ev = split_indices("identity", "train"), split_indices("identity", "eval")
    assert len(set(tr) & set(ev)) == 0 and len(tr) + len(ev) == NUM_IDENTITIES
    tp, ep = split_indices("prompt", "train"), split_indices("prompt", "eval")
    assert len(set(tp) & set(ep)) == 0 and len(ep) == len(HELD_OUT_PROMPTS) == NUM_PROMPTS // 10
    for i in (0, 17, NUM_IDENTITIES - 1):
        assert Identity.from_index(i).index == i
    with pytest.raises(ValueError, match="index"):
        Identity.from_index(NUM_IDENTITIES)


def test_prompts_never_state_identity():
    identity_words = {w for vals in IDENTITY_ATTRS.values() for v in vals for w in v.split()}
    colour_adjectives = {"red", "blue", "yellow"}  # accessory colours ("a red hat"), never about the person
    assert (set(VOCAB) & identity_words) <= colour_adjectives
    for i in range(0, NUM_PROMPTS, 37):
        text = Prompt.from_index(i).text()
        for c in colour_adjectives & set(text.split()):
            assert f"{c} hat" in text or f"{c} headband" in text


def test_render_clip_is_deterministic_and_moves():
    ident, prompt = Identity.from_index(123), Prompt(motion=0)  # moving left
    a, boxes = render_clip(ident, prompt, np.random.default_rng(0))
    b, _ = render_clip(ident, prompt, np.random.default_rng(0))
    assert a.shape == (17, 64, 64, 3) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, b)
    assert boxes[-1, 0] < boxes[0, 0] - 0.2  # the face moved left by > 20 % of the frame
    # anti-aliased: edge pixels take intermediate values, not just the palette
    assert len(np.unique(a[0].reshape(-1, 3), axis=0)) > 100


def test_prompt_attributes_change_the_picture():
    ident = Identity.from_index(5)
    lay = Layout.still(1)
    base = render(ident, lay, "office", "neutral", "bright", "none")
    for kw in ({"scene": "night"}, {"expression": "smiling"}, {"lighting": "dim"}, {"accessory": "red hat"}):
        args = {"scene": "office", "expression": "neutral", "lighting": "bright", "accessory": "none", **kw}
        assert np.abs(render(ident, lay, **args) - base).max() > 0.3, kw
    assert set(CLASSIC.light) == {"bright", "dim", "warm"}


def test_eval_reference_differs_in_context():
    ident, prompt = Identity.from_index(77), Prompt(scene=0, lighting=0)
    ref, box = render_eval_reference(ident, prompt, np.random.default_rng(1))
    clip, boxes = render_clip(ident, prompt, np.random.default_rng(1))
    assert ref.shape == (64, 64, 3)
    assert abs(box[0] - 0.5) > 0.1  # off-centre
    assert np.abs(ref - clip[0]).mean() > 0.1


def test_eval_reference_keep_changes_only_the_kept_context():
    ident, prompt = Identity.from_index(77), Prompt(scene=0, lighting=1)  # beach, dim
    full, box = render_eval_reference(ident, prompt, np.random.default_rng(1))
    lit, box_lit = render_eval_reference(ident, prompt, np.random.default_rng(1), keep=("lighting",))
    both, box_both = render_eval_reference(ident, prompt, np.random.default_rng(1), keep=("scene", "lighting"))
    assert np.array_equal(box, box_lit) and np.array_equal(box, box_both)  # same pose, place and scale
    assert np.abs(full - lit).mean() > 0.05  # another light than the default draw
    # keeping scene and light gives the clip's background (a corner, far from any face); the default does not
    clip, _ = render_clip(ident, prompt, np.random.default_rng(2))
    assert np.allclose(both[0, 0], clip[0, 0, 0], atol=1e-5)
    assert not np.allclose(full[0, 0], clip[0, 0, 0], atol=1e-2)
    assert not np.allclose(lit, both)  # keeping the light alone leaves another scene
    with pytest.raises(ValueError, match="`keep`"):
        render_eval_reference(ident, prompt, np.random.default_rng(1), keep=("pose",))


def test_dataset_items():
    ds = SynthFaces("train", 4, seed=3)
    a, b = ds[1], ds[1]
    assert torch.equal(a["video"], b["video"]) and a["prompt"] == b["prompt"]
    assert a["video"].shape == (3, 17, 64, 64) and a["reference"].shape == (3, 64, 64)
    assert a["video"].min() >= -1 and a["video"].max() <= 1
    # training references are a frame of the clip itself
    assert any(torch.equal(a["reference"], a["video"][:, k]) for k in range(17))
    for item in (a, SynthFaces("eval", 4, seed=3)[0]):  # the person's coverage: 1 on the face, 0 far from it
        m, (cx, cy, _, h) = item["ref_mask"], item["ref_box"].tolist()
        assert m.shape == (64, 64) and 0 <= m.min() and m.max() <= 1
        assert m[int(cy * 64), int(cx * 64)] == 1 and 0.05 < m.mean() < 0.6
        yy, xx = torch.meshgrid(torch.arange(64) / 64, torch.arange(64) / 64, indexing="ij")
        far = ((xx - cx).abs() > h * 1.1) | ((yy - cy).abs() > h * 1.1)  # FACE_REACH is 1 face height
        assert far.float().mean() > 0.1 and m[far].max() == 0
    assert int(a["identity"][0]) < 3 and a["identity"].shape == (9,)
    ev = SynthFaces("eval", 4, seed=3)
    e = ev[0]
    assert not any(torch.equal(e["reference"], e["video"][:, k]) for k in range(17))
    ids = {Identity(*ev[i]["identity"].tolist()).index for i in range(4)}
    assert ids <= set(HELD_OUT_IDENTITIES.tolist())
    with pytest.raises(ValueError, match="ref_mode"):
        SynthFaces("train", 1, ref_mode="copy")


def test_face_window_does_not_change_renders(monkeypatch):
    """Face parts are drawn only within FACE_REACH face heights of the centre, and small parts only in a window
    around them; drawing them over the whole canvas instead gives bitwise the same clips (all motions,
    accessories and evaluation references)."""
    import importlib

    import numpy as np

    from stdrc_lib.toy.dataset import SynthFaces

    Rn = importlib.import_module("stdrc_lib.toy.render")

    def sample():
        tr = SynthFaces("train", 60, seed=11)
        ev = SynthFaces("eval", 20, seed=12)
        return [tr[i]["video"].numpy() for i in range(60)] + [ev[i]["reference"].numpy() for i in range(20)]

    windowed = sample()
    monkeypatch.setattr(Rn, "FACE_REACH", 100.0)  # the window becomes the whole canvas
    full = sample()
    assert all(np.array_equal(a, b) for a, b in zip(windowed, full))
    # small parts (eyes, glasses, mole, mouth) drawn over the whole canvas instead of their own window: the same
    monkeypatch.setattr(Rn._Face, "near", lambda self, *a, **k: (self.cv, self))
    no_part_windows = sample()
    assert all(np.array_equal(a, b) for a, b in zip(windowed, no_part_windows))


def test_write_manifest_keeps_the_records_of_parts_not_retrained(tmp_path):
    import json

    from stdrc_lib.toy.manifest import write_manifest

    write_manifest(tmp_path, {"seed": 0, "training": {"vae": {"psnr_mean": 22.7}, "transformer": {"steps": 1}}})
    write_manifest(tmp_path, {"seed": 0, "training": {"transformer": {"steps": 2400}}})
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["training"] == {"vae": {"psnr_mean": 22.7}, "transformer": {"steps": 2400}}


def test_relight_turns_one_light_into_another():
    """Lighting is a per-channel gain and a clip to [0, 1]; the dim light saturates nothing, so re-lighting a dim
    render gives the bright and the warm render of the same frame, and the identity light changes nothing."""
    import torch

    from stdrc_lib.toy import Identity, render
    from stdrc_lib.toy.render import Layout, relight
    from stdrc_lib.toy.world import PROMPT_ATTRS

    lights = PROMPT_ATTRS["lighting"]
    ident, lay = Identity.from_index(123), Layout.still(1, tilt=0.1)
    px = {
        k: torch.from_numpy(render(ident, lay, "beach", lighting=k)[0]).permute(2, 0, 1)[None] * 2 - 1 for k in lights
    }
    dim = torch.tensor([lights.index("dim")])
    for k in ("bright", "warm"):
        out = relight(px["dim"], dim, torch.tensor([lights.index(k)]))
        assert torch.allclose(out, px[k], atol=1e-5)
        assert not torch.allclose(out, px["dim"], atol=0.05)
    assert torch.allclose(relight(px["dim"], dim, dim), px["dim"], atol=1e-6)
    with pytest.raises(ValueError, match="light_to"):
        relight(px["dim"], dim, torch.tensor([3]))
    with pytest.raises(ValueError, match="`px`"):
        relight(px["dim"][0], dim, dim)


def test_readout_fine_tune_continues_from_saved_weights(tmp_path, monkeypatch):
    """`--init` continues a saved readout (new weights, not a fresh start), records where it came from,
    and bad arguments name themselves. Scoring is skipped here: it renders hundreds of clips."""
    from stdrc_lib.toy import readout as RO

    monkeypatch.setattr(RO, "evaluate", lambda *a, **k: {"stub": 1.0})
    first, _ = RO.train_readout(steps=2, out=tmp_path / "a", batch=4, pool_clips=2)
    start = {k: v.clone() for k, v in RO.Readout.load(tmp_path / "a").state_dict().items()}
    tuned, metrics = RO.train_readout(
        steps=3, out=tmp_path / "b", batch=4, pool_clips=2, init=tmp_path / "a", warmup=1, loss_weights={"mark": 2.0}
    )
    assert metrics["init"] == str(tmp_path / "a") and metrics["loss_weights"] == {"mark": 2.0}
    now = tuned.state_dict()
    assert any(not torch.equal(start[k], now[k]) for k in start), "the fine-tune did not move the weights"
    # it started from the saved weights: far closer to them than a fresh network is
    dist = sum((now[k] - start[k]).norm() ** 2 for k in start if now[k].is_floating_point()) ** 0.5
    fresh = RO.Readout().state_dict()
    dist_fresh = sum((fresh[k] - start[k]).norm() ** 2 for k in start if fresh[k].is_floating_point()) ** 0.5
    assert dist < 0.2 * dist_fresh, (dist, dist_fresh)
    with pytest.raises(ValueError, match="loss_weights"):
        RO.train_readout(steps=1, pool_clips=1, loss_weights={"moustache": 2.0})
    with pytest.raises(FileNotFoundError, match="init"):
        RO.train_readout(steps=1, pool_clips=1, init=tmp_path / "missing")


def test_update_manifest_part_keeps_the_command_a_fine_tune_continues(tmp_path, monkeypatch):
    import json
    import sys

    from stdrc_lib.toy.manifest import update_manifest_part

    scratch = "python -m stdrc_lib.toy.readout --steps 4000"
    (tmp_path / "manifest.json").write_text(
        json.dumps({"commands": ["stdrc train --preset toy", scratch], "training": {"readout": {"steps": 4000}}})
    )
    monkeypatch.setattr(sys, "argv", ["readout", "--init", "data/toy/readout", "--steps", "1500"])
    update_manifest_part(tmp_path, "readout", {"steps": 1500}, keep_commands=True)
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["commands"][1:] == [scratch, "python -m stdrc_lib.toy.readout --init data/toy/readout --steps 1500"]
    assert m["training"]["readout"]["steps"] == 1500 and m["training"]["readout"]["history"][0]["steps"] == 4000
    # retraining from scratch replaces the part's commands
    monkeypatch.setattr(sys, "argv", ["readout", "--steps", "5000"])
    update_manifest_part(tmp_path, "readout", {"steps": 5000})
    m = json.loads((tmp_path / "manifest.json").read_text())
    assert m["commands"] == ["stdrc train --preset toy", "python -m stdrc_lib.toy.readout --steps 5000"]


def test_light_in_prompt_reads_the_grammar():
    from stdrc_lib.toy.world import NUM_PROMPTS, PROMPT_ATTRS, Prompt, light_in_prompt

    for i in range(0, NUM_PROMPTS, 7):
        p = Prompt.from_index(i)
        assert light_in_prompt(p.text()) == p.lighting
    assert light_in_prompt("a person walking on the beach") is None
    with pytest.raises(ValueError, match="more than one light"):
        light_in_prompt("a person in dim light then in warm light")
    with pytest.raises(TypeError, match="`text`"):
        light_in_prompt(None)
    assert PROMPT_ATTRS["lighting"][light_in_prompt("A person In WARM light")] == "warm"


@pytest.mark.slow  # the shipped weights
def test_match_light_estimates_the_reference_light_and_relights_it():
    """The shipped readout reads each render's own light; matching a dim or warm reference to the bright light
    gives (nearly) the bright render of the same frame, and matching to its own light changes nothing."""
    import torch

    from stdrc_lib.toy import Identity, render
    from stdrc_lib.toy import weights as TW
    from stdrc_lib.toy.readout import Readout, match_light
    from stdrc_lib.toy.render import Layout
    from stdrc_lib.toy.world import PROMPT_ATTRS

    readout = Readout.load(TW.BASE_DIR / "readout")  # the shipped base's training readout; its world is bold
    lights = PROMPT_ATTRS["lighting"]
    ident, lay = Identity.from_index(321), Layout.still(1, tilt=-0.1)
    px = {
        k: torch.from_numpy(render(ident, lay, "office", lighting=k, look="bold")[0]).permute(2, 0, 1)[None] * 2 - 1
        for k in lights
    }
    bright = torch.tensor([lights.index("bright")])
    # the bright render may saturate where the dim one does not, so compare where it is unclipped
    unclipped = (px["bright"] < 0.999).all(1, keepdim=True).expand_as(px["bright"])
    for k in ("dim", "warm"):
        out = match_light(readout, px[k], bright, look="bold")
        classic = match_light(readout, px[k], bright)  # another world's gains: not the bold bright render
        assert not torch.allclose(classic[unclipped], px["bright"][unclipped], atol=2e-2), k
        assert torch.allclose(out[unclipped], px["bright"][unclipped], atol=2e-2), k
        assert not torch.allclose(px[k], px["bright"], atol=0.05)
        own = torch.tensor([lights.index(k)])
        assert torch.allclose(match_light(readout, px[k], own, look="bold"), px[k], atol=1e-6)
    with pytest.raises(ValueError, match="`px`"):
        match_light(readout, px["dim"][0], bright)


def test_bench_render_check_equal_counts_differing_clips():
    import importlib
    import importlib.util
    from types import SimpleNamespace

    spec = importlib.util.spec_from_file_location(
        "bench_render", Path(__file__).resolve().parents[1] / "bench" / "bench_render.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    render = importlib.import_module("stdrc_lib.toy.render")
    assert mod.check_equal(render, render, 3) == 0

    def brighter(identity, prompt, rng, return_alpha=False):
        img, *rest = render.render_clip(identity, prompt, rng, return_alpha=return_alpha)
        return (img * 1.001, *rest)

    other = SimpleNamespace(render_clip=brighter, render_eval_reference=render.render_eval_reference)
    assert mod.check_equal(render, other, 3) == 3


def test_match_prompt_light_rejects_bad_input_by_name():
    from stdrc_lib.toy.readout import Readout, match_prompt_light

    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(TypeError, match="`prompt`"):
        match_prompt_light(img, None, Readout().eval())
    with pytest.raises(ValueError, match="`image`"):
        match_prompt_light(img.astype(np.float32), "in dim light", Readout().eval())
    assert match_prompt_light(img, "no light named here", Readout().eval()) is img
