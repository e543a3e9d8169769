"""`stdrc train --preset full`: LoRA fine-tuning of a pipeline folder on a folder of captioned videos.

Run here on a tiny toy pipeline and SynthFaces videos written as MP4; the LTX-2.3 path is the same code.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stdrc_lib.pipeline import STDRCPipeline, pipeline_from_backbone
from stdrc_lib.toy import weights as TW
from stdrc_lib.toy.dataset import SynthFaces
from stdrc_lib.toy.train import ToyTrainConfig
from stdrc_lib.train.finetune import PromptEmbeddingCache, find_videos, finetune, load_clip
from stdrc_lib.viz import _mediapy


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("ft")
    pipeline_from_backbone(TW.build_toy(seed=0, num_layers=1)).save_pretrained(root / "model")
    data = root / "videos"
    data.mkdir()
    ds = SynthFaces("train", 3, seed=0)
    lines = []
    for i in range(3):
        it = ds[i]
        frames = ((it["video"].permute(1, 2, 3, 0).numpy() + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
        _mediapy().write_video(data / f"clip{i}.mp4", frames, fps=8)
        if i < 2:
            (data / f"clip{i}.txt").write_text(it["prompt"])
        else:
            lines.append(json.dumps({"video": f"clip{i}.mp4", "caption": it["prompt"]}))
    (data / "captions.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_finds_videos_and_captions(folders):
    pairs = find_videos(folders / "videos")
    assert [p.name for p, _ in pairs] == ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert all(c.startswith("a person") for _, c in pairs)
    x = load_clip(pairs[0][0], 17, 64, 64)
    assert x.shape == (3, 17, 64, 64) and x.min() >= -1 and x.max() <= 1


def test_lora_finetune_writes_an_adapter_that_loads(folders):
    out = folders / "lora"
    cfg = ToyTrainConfig(steps=3, batch=2, warmup=1, lr=1e-2, lora_rank=4, ckpt_every=2, sample_every=0)
    info = finetune(folders / "model", folders / "videos", out, cfg, 17, 64, 64, detect_faces=False, progress=False)
    assert info["clips"] == 3 and np.isfinite(info["final_loss"])
    assert (out / "pytorch_lora_weights.safetensors").is_file() and (out / "ckpt" / "latest").is_file()

    def run(pipe):
        ref = SynthFaces("eval", 1, seed=1)[0]["reference"]
        g = torch.Generator().manual_seed(0)
        return pipe("a person smiling on the beach", reference_image=((ref.permute(1, 2, 0) + 1) / 2).numpy(),
                    num_inference_steps=2, generator=g, output_type="latent", progress=False).frames  # fmt: skip

    pipe = STDRCPipeline.from_pretrained(folders / "model")
    base = run(pipe)
    pipe.load_lora_weights(out)
    assert (run(pipe) - base).abs().max() > 1e-5  # the adapter moved away from zero and is applied


def test_bad_data_folders_say_what_is_wrong(tmp_path, folders):
    with pytest.raises(FileNotFoundError, match="no videos"):
        find_videos(tmp_path)
    with pytest.raises(FileNotFoundError, match="folder of videos"):
        find_videos(tmp_path / "missing")
    (tmp_path / "a.mp4").write_bytes((folders / "videos" / "clip0.mp4").read_bytes())
    with pytest.raises(ValueError, match="no caption for a.mp4"):
        find_videos(tmp_path)
    (tmp_path / "captions.jsonl").write_text("not json\n")
    with pytest.raises(ValueError, match="captions.jsonl:1"):
        find_videos(tmp_path)
    cfg = ToyTrainConfig(steps=1, lora_rank=0)
    with pytest.raises(ValueError, match="lora_rank"):
        finetune(folders / "model", folders / "videos", tmp_path / "o", cfg, 17, 64, 64, detect_faces=False)
    cfg = ToyTrainConfig(steps=1, lora_rank=2)
    with pytest.raises(ValueError, match="frames"):
        finetune(folders / "model", folders / "videos", tmp_path / "o", cfg, 16, 64, 64, detect_faces=False)


def test_prompt_cache_refuses_unknown_prompts():
    cache = PromptEmbeddingCache(["", "a"], torch.zeros(2, 3, 8), torch.ones(2, 3))
    emb, mask = cache.encode(["a", ""])
    assert emb.shape == (2, 3, 8) and mask.shape == (2, 3)
    with pytest.raises(KeyError, match="not in the embedding cache"):
        cache.tokenize(["b"])


def test_cli_full_preset(folders, capsys):
    from stdrc_lib.cli import main

    assert main(["train", "--preset", "full"]) == 2
    assert "--model and --data required" in capsys.readouterr().err
    assert main(["train", "--preset", "full", "--p-cross-ref", "0.5"]) == 2
    assert "--p-cross-ref" in capsys.readouterr().err
    assert main(["train", "--preset", "full", "--p-relight", "0.5"]) == 2
    assert "--p-relight" in capsys.readouterr().err
    assert main(["train", "--preset", "full", "--clips", "10"]) == 2
    assert "--clips belongs to the toy preset" in capsys.readouterr().err
    out = folders / "lora_cli"
    args = ["train", "--preset", "full", "--model", str(folders / "model"), "--data", str(folders / "videos")]
    args += ["--out", str(out), "--frames", "17", "--height", "64", "--width", "64", "--steps", "2", "--batch", "2"]
    args += ["--lora-rank", "2", "--dtype", "fp32", "--no-detect-face", "--ckpt-every", "0"]
    assert main(args) == 0
    assert (out / "pytorch_lora_weights.safetensors").is_file()
    assert json.loads((out / "finetune.json").read_text())["clips"] == 3
