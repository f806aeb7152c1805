"""The built-in task commands of FORMAT.md section 2, as plain data.

One table, :data:`TASKS`, maps each command name to its :class:`TaskSpec`: a one-line
description, its arguments (which are required, documented defaults) and whether it takes
extra keyword arguments or a ``device``. The semantic checker uses it for unknown commands
and missing arguments (rule 15); the language server uses it for completion and hover.
Pure data: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

#: A documented default: a JSON scalar or a list of them.
Default = str | int | float | bool | tuple[int, ...] | None


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a task command. ``default`` is None when none is documented."""

    name: str
    description: str
    required: bool = False
    default: Default = None


@dataclass(frozen=True)
class TaskSpec:
    """One task command. ``device``: ``arguments.device`` pins the task to a device (for
    other commands dw passes it on, a TypeError). ``extra_kwargs``: further keyword
    arguments are passed through (detectors, image processors, ``gather_inputs``)."""

    name: str
    group: str
    description: str
    args: tuple[ArgSpec, ...] = ()
    device: bool = False
    extra_kwargs: bool = False

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args if a.required)

    def arg(self, name: str) -> ArgSpec | None:
        for a in self.args:
            if a.name == name:
                return a
        return None


def _a(name: str, description: str, default: Default = None) -> ArgSpec:
    return ArgSpec(name, description, False, default)


def _r(name: str, description: str) -> ArgSpec:
    return ArgSpec(name, description, True)


_IMAGE = _r("image", "The input image (path, URL, or previous_result).")
_VIDEO = _r("video", "The input video (path, URL, or previous_result).")
_DEVICE_DOC = "Device for the model, e.g. cuda or cpu."
_HEIGHT_768 = _a("height", "Output height in pixels.", 768)
_WIDTH_768 = _a("width", "Output width in pixels.", 768)

_PLUMBING = "data, plumbing and audio/video"
_MODEL = "model-backed"
_VIDEO_PROC = "video processor"
_IMAGE_PROC = "image processor"
_DETECTOR = "ControlNet-aux detector"

_SPECS: tuple[TaskSpec, ...] = (
    TaskSpec(
        "qr_code",
        _PLUMBING,
        "Make a QR code image of the given contents, resampled to width x height.",
        (
            _r("qr_code_contents", "The text the QR code encodes."),
            _a("height", "Image height in pixels.", 768),
            _a("width", "Image width in pixels.", 768),
        ),
    ),
    TaskSpec(
        "gather_images",
        _PLUMBING,
        "Collect images from a glob pattern and/or URLs (an error if none are found).",
        (
            _a("glob", "File pattern, relative to the working directory (not path-checked)."),
            _a("urls", "List of http(s) image URLs."),
        ),
    ),
    TaskSpec(
        "gather_videos",
        _PLUMBING,
        "Collect videos from a glob pattern and/or URLs (an error if none are found).",
        (
            _a("glob", "File pattern, relative to the working directory (not path-checked)."),
            _a("urls", "List of http(s) video URLs."),
        ),
    ),
    TaskSpec(
        "gather_inputs",
        _PLUMBING,
        "Return the argument set (or each inputs item) unchanged; used to fan out values.",
        extra_kwargs=True,
    ),
    TaskSpec(
        "concat_videos",
        _PLUMBING,
        "Join videos (with their audio) into one, optionally trimming and crossfading.",
        (
            _r("videos", "The videos to join, in order."),
            _a("trim_frames", "Frames removed from the head of each later video.", 0),
            _a("crossfade_ms", "Audio crossfade at each join, in milliseconds.", 75),
            _a("fps", "Frame rate; needed to join audio when trimming."),
        ),
    ),
    TaskSpec(
        "slice_audio",
        _PLUMBING,
        "Cut a piece out of an audio track (by seconds, or by frames at an fps).",
        (
            _r("audio", "Path, URL, waveform or audio+video pair."),
            _a("start_seconds", "Start of the slice in seconds."),
            _a("duration_seconds", "Length of the slice in seconds."),
            _a("start_frame", "Start of the slice in video frames (with fps)."),
            _a("num_frames", "Length of the slice in video frames (with fps)."),
            _a("fps", "Frame rate for start_frame / num_frames."),
            _a("sample_rate", "Sample rate of a raw waveform."),
        ),
    ),
    TaskSpec(
        "crossfade_audio",
        _PLUMBING,
        "Join audio tracks with a crossfade; returns the joined waveform.",
        (
            _r("audios", "The audio tracks to join, in order."),
            _a("crossfade_ms", "Crossfade length in milliseconds.", 75),
            _a("sample_rate", "Sample rate of raw waveforms."),
        ),
    ),
    TaskSpec(
        "video_frames",
        _PLUMBING,
        "Return a video's frames as one (frames, H, W, C) uint8 array.",
        (_VIDEO,),
    ),
    TaskSpec(
        "pair_audio",
        _PLUMBING,
        "Pair a video with an audio track; returns an audio+video pair.",
        (
            _VIDEO,
            _r("audio", "A waveform, or a step whose video has sound."),
            _a("sample_rate", "Sample rate of a raw waveform."),
        ),
    ),
    TaskSpec(
        "format_chat_message",
        _PLUMBING,
        "Build chat messages: returns {text_inputs: [system message, user message]}.",
        (
            _a("system_prompt", "The system message."),
            _a("user_message", "The user message."),
        ),
    ),
    TaskSpec(
        "get_dict_value",
        _PLUMBING,
        "Return the value under key in a dict, or null.",
        (_r("dict", "The dict (usually a previous_result)."), _r("key", "The key to read.")),
    ),
    TaskSpec(
        "extract_sections",
        _PLUMBING,
        "Keep the labelled sections of a text, in order; returns the trimmed text.",
        (
            _r("text", "The text to trim."),
            _a("sections", "Section labels, in order."),
            _a("keep_preamble", "Keep the text before the first section.", True),
        ),
    ),
    TaskSpec(
        "batch_decode_post_process",
        _PLUMBING,
        "Decode generated ids with the processor of the task-level pipeline_reference step.",
        (
            _r("generated_ids", "The ids a generate step produced."),
            _a("task", "The processor's task prompt, e.g. <DETAILED_CAPTION>."),
        ),
    ),
    TaskSpec(
        "upscale",
        _MODEL,
        "Super-resolution with a Spandrel model.",
        (
            _IMAGE,
            _r("model_name", "Hub repository of the upscaler."),
            _a("filename", "Weights file inside the repository."),
            _a("tile_size", "Tile size in pixels.", 512),
            _a("tile_overlap", "Tile overlap in pixels.", 32),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "diffusion_upscale",
        _MODEL,
        "Upscale with a Stable Diffusion upscaler (x4 or x2 latent).",
        (
            _IMAGE,
            _a("mode", "x4 or x2.", "x4"),
            _a("model_name", "Hub repository of the upscaler."),
            _a("prompt", "Prompt guiding the upscale.", ""),
            _a("negative_prompt", "Negative prompt."),
            _a("num_inference_steps", "Denoising steps.", 25),
            _a("guidance_scale", "Classifier-free guidance scale.", 9.0),
            _a("noise_level", "Noise added to the input (x4 only).", 20),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "restore_faces",
        _MODEL,
        "Restore faces in an image.",
        (
            _IMAGE,
            _r("model_name", "Hub repository of the face-restoration model."),
            _a("filename", "Weights file inside the repository."),
            _a("upscale_factor", "Upscale factor of the whole image.", 1),
            _a("face_size", "Face crop size in pixels.", 512),
            _a("use_parse", "Use face parsing to blend.", True),
            _a("only_center_face", "Restore only the centre face.", False),
            _a("detection_resize", "Resize before face detection.", 640),
            _a("eye_dist_threshold", "Minimum eye distance of a face.", 5),
            _a("upsample_img", "Background upsampler output."),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "segment",
        _MODEL,
        "Segment what the prompt names (Grounding DINO + SAM 2); returns a binary mask.",
        (
            _IMAGE,
            _r("prompt", "What to segment."),
            _a("model_name", "Detector model.", "IDEA-Research/grounding-dino-base"),
            _a("sam_model_name", "SAM model.", "facebook/sam2-hiera-large"),
            _a("threshold", "Detection threshold.", 0.3),
            _a("invert", "Invert the mask.", False),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "interpolate_frames",
        _MODEL,
        "Frame interpolation with RIFE 4.13.",
        (
            _VIDEO,
            _a("multiplier", "Frame multiplier: 2, 4 or 8.", 2),
            _a("model_name", "RIFE repository."),
            _a("filename", "Weights file inside the repository."),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "image_to_text",
        _MODEL,
        "Describe an image with a vision-language model; returns a string.",
        (
            _IMAGE,
            _a("model_name", "Vision-language model.", "HuggingFaceTB/SmolVLM-256M-Instruct"),
            _a("prompt", "The question about the image.", "Describe this image."),
            _a("system_prompt", "System message."),
            _a("max_new_tokens", "Generated tokens at most.", 50),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
    TaskSpec(
        "text_generation",
        _MODEL,
        "Generate text with an LLM (or a VLM when an image is given); returns a string.",
        (
            _r("prompt", "The user prompt."),
            _a("system_prompt", "System message."),
            _a(
                "model_name",
                "Language model (SmolVLM when an image is given).",
                "Qwen/Qwen2.5-1.5B-Instruct",
            ),
            _a("image", "Optional image for a vision-language model."),
            _a("max_new_tokens", "Generated tokens at most.", 500),
            _a("repetition_penalty", "Repetition penalty (vision only).", 1.15),
            _a("generate_kwargs", "Extra keyword arguments for generate()."),
            _a("device", _DEVICE_DOC),
        ),
        device=True,
    ),
)


def _processor(name: str, group: str, description: str, *args: ArgSpec) -> TaskSpec:
    first = _VIDEO if group == _VIDEO_PROC else _IMAGE
    return TaskSpec(
        name,
        group,
        description,
        (first, *args, _a("device", _DEVICE_DOC)),
        device=True,
        extra_kwargs=group != _VIDEO_PROC,
    )


_PROCESSORS: tuple[TaskSpec, ...] = (
    _processor(
        "get_frame",
        _VIDEO_PROC,
        "Return one frame of a video.",
        _a("frame_index", "Index of the frame.", 0),
    ),
    _processor("get_first_frame", _VIDEO_PROC, "Return the first frame of a video."),
    _processor("get_last_frame", _VIDEO_PROC, "Return the last frame of a video."),
    _processor("get_image_size", _IMAGE_PROC, "Return {width, height} of an image."),
    _processor(
        "add_border_and_mask",
        _IMAGE_PROC,
        "Zoom out with a border and a mask for outpainting; returns {bordered_image, mask}.",
        _a("zoom_all", "Zoom factor on every side.", 1.0),
        _a("zoom_left", "Extra zoom on the left.", 0),
        _a("zoom_right", "Extra zoom on the right.", 0),
        _a("zoom_up", "Extra zoom at the top.", 0),
        _a("zoom_down", "Extra zoom at the bottom.", 0),
        _a("overlap", "Mask overlap in pixels.", 0),
    ),
    _processor(
        "add_border_and_mask_with_size",
        _IMAGE_PROC,
        "Place the image on a canvas of a given size with a mask; returns {bordered_image, mask}.",
        _a("width", "Canvas width."),
        _a("height", "Canvas height."),
        _a("overlap", "Mask overlap in pixels.", 0),
    ),
    _processor("remove_background", _IMAGE_PROC, "Remove the background of an image."),
    _processor(
        "canny_cv",
        _IMAGE_PROC,
        "Canny edges with OpenCV, at the native resolution.",
        _a("low_threshold", "Lower hysteresis threshold.", 100),
        _a("high_threshold", "Upper hysteresis threshold.", 200),
    ),
    _processor("segmentation", _IMAGE_PROC, "Semantic segmentation map."),
    _processor("zoe_depth", _IMAGE_PROC, "Depth map with ZoeDepth."),
    _processor(
        "depth",
        _IMAGE_PROC,
        "Depth map.",
        _a("height", "Output height.", 1024),
        _a("width", "Output width.", 1024),
    ),
    _processor(
        "depth_estimator",
        _IMAGE_PROC,
        "Depth map as an image.",
        _a("dtype", "Model dtype, e.g. torch.float16."),
    ),
    _processor(
        "depth_estimator_tensor",
        _IMAGE_PROC,
        "Depth map as a tensor.",
        _a("dtype", "Model dtype, e.g. torch.float16."),
    ),
    _processor(
        "resize_center_crop", _IMAGE_PROC, "Resize and centre-crop.", _HEIGHT_768, _WIDTH_768
    ),
    _processor("resize_rescale", _IMAGE_PROC, "Resize by rescaling.", _HEIGHT_768, _WIDTH_768),
    _processor(
        "resize_resample",
        _IMAGE_PROC,
        "Resample to a resolution.",
        _a("resolution", "Target resolution.", 1024),
    ),
    _processor(
        "resize_bucket",
        _IMAGE_PROC,
        "Resize to the closest aspect-ratio bucket.",
        _a("resolution", "Target resolution.", 1024),
        _a("ratios", "Allowed buckets as [w, h] pairs."),
        _a("alignment", "Sizes are multiples of this.", 64),
    ),
    _processor("crop_square", _IMAGE_PROC, "Crop the centre square."),
    _processor("strip_exif", _IMAGE_PROC, "Remove EXIF metadata."),
    _processor(
        "add_watermark",
        _IMAGE_PROC,
        "Draw a text watermark.",
        _a("text", "The watermark text.", "AI Generated"),
        _a("position", "bottom-right, bottom-left, top-right, top-left or center.", "bottom-right"),
        _a("opacity", "0-255.", 128),
        _a("font_size", "0 picks a size automatically.", 0),
        _a("margin", "Margin in pixels.", 10),
        _a("color", "[r, g, b]."),
    ),
)

_DETECTORS = {
    "canny": "Canny edges (resizes to 512).",
    "mlsd": "M-LSD straight lines.",
    "normal_bae": "Surface normals (BAE).",
    "lineart": "Coarse line art.",
    "lineart_standard": "Standard line art.",
    "openpose": "OpenPose skeleton with hands and face.",
    "dw_pose": "DWPose skeleton.",
    "hed": "HED soft edges.",
    "scribble": "Scribble lines.",
    "pidi": "PiDiNet soft edges.",
    "midas": "MiDaS depth.",
    "zoe": "ZoeDepth depth.",
    "leres": "LeReS depth.",
    "teed": "TEED soft edges.",
    "anyline": "Anyline line art.",
    "sam": "Segment Anything map.",
    "shuffle": "Content shuffle.",
}

TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        *_SPECS,
        *_PROCESSORS,
        *(
            TaskSpec(
                name,
                _DETECTOR,
                f"{text} Extra keyword arguments go to the detector.",
                (_IMAGE, _a("device", _DEVICE_DOC)),
                device=True,
                extra_kwargs=True,
            )
            for name, text in _DETECTORS.items()
        ),
    )
}


def close_commands(name: str, limit: int = 3) -> list[str]:
    """Command names that look like ``name`` (for "did you mean")."""
    return difflib.get_close_matches(name, list(TASKS), n=limit, cutoff=0.6)
