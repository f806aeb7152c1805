"""``chain`` (FORMAT.md 1.4.8): segment planning, continuity, trimming, audio joining and
``match_audio`` on the chain module; and chained runs of the stand-in registry's LTX
image-to-video pipeline through the real worker (stitched length, per-segment prompts from
variables and earlier results, progress per segment and per denoising step, saved and kept
segments, cancel between and within segments, a prompt-only edit reloading nothing), all on
one worker (the module's)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dwtest_worker import WorkerProcess, execute_params, ok, progress_of, write_workflow
from PIL import Image

from dw_lsp.worker import chain, chain_audio, support
from dw_lsp.worker.chain_step import resolve_prompts

pytestmark = pytest.mark.slow

#: ``num_frames`` LTX accepts: 8 * n + 1.
FRAME_SNAP = {"modulus": 8, "remainder": 1}


class Output:
    """A pipeline output as the chain reads it (frames, and audio where there is some)."""

    def __init__(self, frames: Any, audio: Any = None, sample_rate: int | None = None) -> None:
        self.frames = frames
        if audio is not None:
            self.audio = audio
            self.sample_rate = sample_rate


def solid(value: int, size: int = 4) -> Image.Image:
    return Image.new("RGB", (size, size), (value, value, value))


# -- planning and checks ------------------------------------------------------------------------


def test_plan_covers_the_total_and_snaps_the_last_segment() -> None:
    snap = chain.FrameSnap(8, 1)
    plan = chain.plan_segments(40, 17, 1, snap)
    assert [(s.num_frames, s.audio_start_frame, s.head_trim) for s in plan] == [
        (17, 0, 0),
        (17, 16, 1),
        (9, 32, 1),  # 8 frames remain (+1 trimmed), snapped up to 8 * 1 + 1
    ]
    assert [s.num_frames for s in chain.plan_segments(30, 17, 1, snap)] == [17, 17]
    with pytest.raises(chain.ChainError, match="cannot advance past a head trim"):
        chain.plan_segments(10, 1, 1, None)
    with pytest.raises(chain.ChainError, match="8\\*n\\+1"):
        chain.plan_segments(40, 16, 1, snap)
    assert chain.FrameSnap(8, 1, min_frames=9).snap(3) == 9
    with pytest.raises(chain.ChainError, match="exceeds"):
        chain.FrameSnap(8, 1, max_frames=9).snap(12)


@pytest.mark.parametrize(
    ("definition", "arguments", "message"),
    [
        ({"segments": 2, "match_audio": True}, {}, "exactly one of segments / match_audio"),
        ({}, {}, "exactly one of segments / match_audio"),
        ({"segments": 0}, {}, "at least 1"),
        ({"segments": 1001}, {}, "at most 1000"),
        ({"segments": "many"}, {}, "whole number"),
        ({"segments": 2, "continuity": "last_scene"}, {}, "continuity must be one of"),
        ({"segments": 2, "frame_snap": {"modulus": 8}}, {}, "modulus and remainder"),
        ({"segments": 2, "frame_snap": FRAME_SNAP}, {"num_frames": 8}, "8\\*n\\+1"),
        ({"segments": 2, "crossfade_ms": -1}, {}, "crossfade_ms must be at least 0"),
        ({"segments": 2, "colour": 1}, {}, "unknown keys: colour"),
        ({"match_audio": True}, {"num_frames": 9}, "needs the frame rate"),
        ({"match_audio": True, "fps": 8}, {}, "needs a num_frames argument"),
        ({"match_audio": True, "fps": 8}, {"num_frames": 9}, "references argument"),
    ],
)
def test_bad_chains_are_named(
    definition: dict[str, Any], arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(chain.ChainError, match=message):
        chain.settings(definition, arguments)


def test_variables_may_give_numbers_as_strings() -> None:
    config = chain.settings({"segments": "3", "trim_frames": "2", "fps": "12"}, {"num_frames": 9})
    assert [(s.num_frames, s.head_trim) for s in config.plan] == [(9, 0), (9, 2), (9, 2)]
    assert config.fps == 12.0
    assert chain.settings({"segments": 1}, {"frame_rate": 24}).fps == 24.0


def test_preflight_accepts_chains_and_names_bad_shapes() -> None:
    def document(chain_object: Any, kind: str = "pipeline") -> dict[str, Any]:
        body: dict[str, Any] = {
            "configuration": {"component_type": "LTXImageToVideoPipeline"},
            "from_pretrained_arguments": {"model_name": "x"},
            "arguments": {},
            "chain": chain_object,
        }
        if kind == "pipeline_reference":
            body = {"reference_name": "a", "arguments": {}, "chain": chain_object}
        return {"id": "c", "steps": [{"name": "a", kind: body}]}

    assert support.preflight(document({"segments": 3, "prompts": ["a", "b"]}), ()) == []
    assert support.preflight(document({"match_audio": True}, "pipeline_reference"), ()) == []
    [problem] = support.preflight(document({"segments": 2, "match_audio": False}), ())
    assert "exactly one of segments / match_audio" in problem
    [problem] = support.preflight(document({"segments": 2, "loop": True}), ())
    assert "pipeline.chain.loop is not a chain key" in problem


# -- stitching ------------------------------------------------------------------------------------


def run_fake(
    definition: dict[str, Any], arguments: dict[str, Any], outputs: list[Output]
) -> tuple[chain.ChainedVideo, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []

    def run_segment(current: dict[str, Any], index: int, count: int) -> Any:
        seen.append(current)
        return outputs[index]

    config = chain.settings(definition, arguments)
    return chain.run_chain(config, arguments, run_segment), seen


def test_last_frame_carries_into_the_next_segment_and_heads_are_trimmed() -> None:
    segments = [Output([[solid(10 * s + f) for f in range(5)]]) for s in range(3)]
    video, seen = run_fake(
        {"segments": 3, "trim_frames": 2, "prompts": ["one", "two"]},
        {"image": solid(255), "prompt": "unused", "num_frames": 5},
        segments,
    )
    assert [c["prompt"] for c in seen] == ["one", "two", "two"]
    assert seen[0]["image"].getpixel((0, 0)) == (255, 255, 255)
    assert seen[1]["image"].getpixel((0, 0)) == (4, 4, 4)  # last frame of segment 1
    assert seen[2]["image"].getpixel((0, 0)) == (14, 14, 14)
    values = [frame.getpixel((0, 0))[0] for frame in video.frames]
    assert values == [0, 1, 2, 3, 4, 12, 13, 14, 22, 23, 24]


def test_a_batch_of_videos_cannot_be_chained() -> None:
    two = Output([[solid(1)] * 3, [solid(2)] * 3])
    with pytest.raises(chain.ChainError, match="exactly one video per segment"):
        run_fake({"segments": 2}, {"image": solid(0)}, [two, two])


def test_a_modular_pipelines_output_dict_is_a_segment() -> None:
    frames = np.zeros((1, 6, 8, 8, 3), dtype=np.float32)  # (batch, frames, H, W, C)
    sound = np.zeros((1, 2, 600), dtype=np.float32)
    video = chain.segment_video({"videos": frames, "audio": sound, "sampling_rate": 800}, None)
    assert len(video.frames) == 6 and video.sample_rate == 800
    assert video.audio is not None and video.audio.shape == (2, 600)
    with pytest.raises(chain.ChainError, match="modular pipeline's videos"):
        chain.segment_video({"audio": sound}, None)


def test_generated_audio_is_joined_with_a_crossfade_the_length_of_the_video() -> None:
    rate, fps = 100, 10  # 10 samples a frame
    outputs = [
        Output([[solid(s)] * 4], np.full((1, 40), float(s + 1), dtype=np.float32), rate)
        for s in range(2)
    ]
    video, _ = run_fake(
        {"segments": 2, "trim_frames": 1, "fps": fps, "crossfade_ms": 50}, {}, outputs
    )
    assert len(video.frames) == 7 and video.sample_rate == rate
    assert video.audio is not None and video.audio.shape == (1, 70)  # 7 frames of samples
    assert video.audio[0, 0] == 1.0 and video.audio[0, -1] == 2.0
    seam = video.audio[0, 35:40]  # the last 5 samples of segment 1 fade into segment 2's head
    assert seam[0] == 1.0 and seam[-1] == pytest.approx(2.0)
    assert np.all((seam >= 1.0) & (seam <= 5**0.5 + 1e-6))  # equal power: cos * 1 + sin * 2


def test_match_audio_slices_the_track_and_keeps_the_original_under_the_video() -> None:
    import torch
    from diffusers.modular_pipelines.minimax_h3.references import (
        MiniMaxH3AudioReference,
        MiniMaxH3ImageReference,
        MiniMaxH3VideoReference,
    )

    rate, fps = 80, 8  # 10 samples a frame; 2.5 s of audio = 20 frames
    track = torch.arange(200, dtype=torch.float32).reshape(1, 200)
    references = [
        MiniMaxH3ImageReference(image=solid(1)),
        MiniMaxH3AudioReference(audio=track, sample_rate=rate),
    ]
    outputs = [Output([[solid(s)] * 9]) for s in range(3)]
    definition = {
        "match_audio": True,
        "fps": fps,
        "frame_snap": FRAME_SNAP,
        "continuity": "last_frame",
        "segment_argument": "references",
    }
    video, seen = run_fake(definition, {"references": references, "num_frames": 9}, outputs)
    assert [c["num_frames"] for c in seen] == [9, 9, 9]  # 9 + 8 + 8 >= 20 (the last snaps to 9)
    sliced = [c["references"][1].audio[0] for c in seen]
    assert sliced[0][0] == 0 and sliced[1][0] == 80 and len(sliced[1]) == 90
    assert sliced[2][-1] == 0.0  # past the end of the track: silence
    assert isinstance(seen[1]["references"][-1], MiniMaxH3ImageReference)  # the carried frame
    assert len(seen[1]["references"]) == 3 and len(seen[2]["references"]) == 3
    assert len(video.frames) == 20 and video.sample_rate == rate
    assert np.array_equal(video.audio, track.numpy())
    # last_segment: the previous segment's tail becomes a video reference of the same family
    definition = {
        "segments": 2,
        "continuity": "last_segment",
        "carry_frames": 3,
        "segment_argument": "references",
    }
    outputs = [Output([[solid(10 + f) for f in range(6)]], np.ones((1, 60), np.float32), rate)] * 2
    _, seen = run_fake({**definition, "fps": fps}, {"references": references[:1]}, outputs)
    carried = seen[1]["references"][-1]
    assert isinstance(carried, MiniMaxH3VideoReference)
    assert [f.getpixel((0, 0))[0] for f in carried.frames] == [13, 14, 15]
    assert carried.audio.shape == (1, 30) and carried.sample_rate == rate
    with pytest.raises(chain.ChainError, match="must be a references list"):
        run_fake({**definition, "fps": fps}, {"references": "x"}, outputs)


def test_crossfade_bounds_and_prompt_references() -> None:
    track, head, body = np.ones((2, 10)), np.zeros((2, 3)), np.zeros((2, 5))
    joined = chain_audio.crossfade_join(track, head, body, 1000, 1000)
    assert joined.shape == (2, 15)  # the window is bounded by the head
    assert chain_audio.as_channels_samples(np.zeros((100, 2))).shape == (2, 100)
    results = {"describe": ["a fox", "a hen"], "other": [{"caption": "x"}]}
    assert resolve_prompts(["previous_result:describe", "plain"], results) == ["a fox", "plain"]
    assert resolve_prompts(["previous_result:other.caption"], results) == ["x"]
    with pytest.raises(chain.ChainError, match="names no earlier step"):
        resolve_prompts(["previous_result:missing"], results)


# -- through the worker ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ltx(cache_dir: Path) -> Path:
    """The stand-in registry's LTX image-to-video pipeline, saved once in the session's model
    cache and loaded from that folder as a user's local model (no stand-in mode, so no
    argument is shrunk)."""
    from diffusers import LTXImageToVideoPipeline

    from dw_lsp.worker.standins import store

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DW_LSP_CACHE_DIR", str(cache_dir))
        return store.pipeline_dir(LTXImageToVideoPipeline)


def chained_workflow(folder: Path, model: Path, steps: int = 2, **chain_keys: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    solid(200, 32).save(folder / "start.png")
    chain_object = {"segments": 3, "trim_frames": 1, "frame_snap": FRAME_SNAP, **chain_keys}
    pipeline = {
        "configuration": {"component_type": "LTXImageToVideoPipeline"},
        "from_pretrained_arguments": {"model_name": str(model), "torch_dtype": "torch.float32"},
        "arguments": {
            "image": "start.png",
            "prompt": "a fox",
            "num_frames": 9,
            "height": 32,
            "width": 32,
            "frame_rate": 8,
            "num_inference_steps": steps,
            "guidance_scale": 1.0,
            "max_sequence_length": 16,
        },
        "chain": chain_object,
    }
    captions = {"name": "captions", "task": {"command": "gather_inputs", "inputs": ["a hen"]}}
    return write_workflow(
        folder / "chained.json",
        [
            captions,
            {
                "name": "video",
                "pipeline": pipeline,
                "result": {"content_type": "video/mp4", "fps": 8},
            },
        ],
        seed=4,
        variables={"second": "a wolf"},
    )


def frame_count(path: str) -> int:
    import imageio.v3 as iio

    return len(list(iio.imiter(path)))


def test_a_chained_run_stitches_segments_reports_each_and_saves_them(
    worker: WorkerProcess, ltx: Path, tmp_path: Path
) -> None:
    prompts = ["variable:second", "previous_result:captions", "a crow"]
    workflow = chained_workflow(
        tmp_path / "w", ltx, prompts=prompts, save_segments=True, keep_segments=True
    )
    params = execute_params(workflow, tmp_path / "out")
    reply = worker.response(worker.send("execute", params), timeout=240)["result"]
    ok(reply)
    videos = [p for p in reply["outputs"] if ".segment-" not in p]
    [final] = [p for p in videos if p.endswith(".mp4")]
    assert frame_count(final) == 9 + 8 + 8
    segments = sorted(p for p in reply["outputs"] if ".segment-" in p)
    assert [Path(p).name for p in segments] == [
        f"chained-video.0.segment-{i:03d}.mp4" for i in range(3)
    ]
    assert [frame_count(p) for p in segments] == [9, 8, 8]
    events = [n["params"] for n in worker.notifications if progress_of(params["runId"])(n)]
    segment_events = [e for e in events if e["phase"] == "segment"]
    assert [e["message"] for e in segment_events] == [
        f"video: segment {i}/3 (9 frames)" for i in (1, 2, 3)
    ]
    denoise = [e for e in events if e["phase"] == "denoise" and e["step"] == "video"]
    assert [(e["denoiseStep"], e["denoiseTotal"]) for e in denoise] == [(1, 2), (2, 2)] * 3
    percents = [e["percent"] for e in events]
    assert percents == sorted(percents)


def test_segment_files_go_once_the_video_is_saved_unless_kept(
    worker: WorkerProcess, ltx: Path, tmp_path: Path
) -> None:
    workflow = chained_workflow(tmp_path / "w", ltx, steps=1, segments=2, save_segments=True)
    reply = ok(worker.execute(workflow, tmp_path / "out"))
    assert [Path(p).suffix for p in reply["outputs"]] == [".mp4"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [Path(reply["outputs"][0]).name]


def test_a_prompt_only_edit_of_a_chain_reloads_nothing_and_changes_the_video(
    worker: WorkerProcess, ltx: Path, tmp_path: Path
) -> None:
    import imageio.v3 as iio

    workflow = chained_workflow(
        tmp_path / "w", ltx, steps=1, segments=2, prompts=["a fox", "a cat"]
    )
    first = ok(worker.execute(workflow, tmp_path / "one"))
    document = json.loads(workflow.read_text())
    document["steps"][1]["pipeline"]["chain"]["prompts"] = ["a fox", "a dog"]
    document["steps"][1]["pipeline"]["arguments"]["prompt"] = "a bear"
    workflow.write_text(json.dumps(document))
    second = ok(worker.execute(workflow, tmp_path / "two"))
    assert second["fileChanged"] is True
    assert second["cache"]["loaded"] == [] and second["cache"]["reused"] == ["video@chained.json"]
    one, two = (np.stack(list(iio.imiter(r["outputs"][0]))) for r in (first, second))
    assert one.shape == two.shape and np.array_equal(one[:9], two[:9])  # same first prompt
    assert not np.array_equal(one[9:], two[9:])  # the second segment's prompt changed


@pytest.mark.parametrize("phase", ["segment", "denoise"])
def test_cancel_stops_between_and_within_segments(
    worker: WorkerProcess, ltx: Path, tmp_path: Path, phase: str
) -> None:
    steps = 2 if phase == "segment" else 40
    workflow = chained_workflow(tmp_path / "w", ltx, steps=steps, segments=50, save_segments=True)
    params = execute_params(workflow, tmp_path / "out")
    run = worker.send("execute", params)

    def started(note: dict[str, Any]) -> bool:
        p = note.get("params") or {}
        if not progress_of(params["runId"], phase)(note):
            return False
        return (
            p["message"].startswith("video: segment 2/")
            if phase == "segment"
            else p["denoiseStep"] >= 2
        )

    worker.wait_for(started, timeout=240)
    cancelled = time.monotonic()
    assert worker.result("cancel") == {"cancelled": True}
    result = worker.response(run, timeout=60)["result"]
    assert result["status"] == "cancelled" and time.monotonic() - cancelled < 20
    segments = [n for n in worker.notifications if progress_of(params["runId"], "segment")(n)]
    # within a segment: the first one never finishes; between: at most the one in flight
    assert len(segments) == 1 if phase == "denoise" else 2 <= len(segments) <= 3
    assert result["outputs"] == []
