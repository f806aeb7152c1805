"""Pipeline-configuration and run-shape rules (FORMAT.md 1.4.1, 1.4.8, 1.9.2, 1.11 rules 22
to 28).

DW228 cartesian product estimate, DW229 chain settings, DW230 mutually exclusive
settings, DW231 a setting that needs another, DW232 ``group_offload`` with ``residency:
on_demand``, DW238 ``load_components`` / ``configs`` on a class that is clearly not
modular. Pure: imports no pygls, lsprotocol, torch or diffusers.
"""

from __future__ import annotations

from typing import Any

from dw_lsp.validation.fixes import InsertKey, replacing
from dw_lsp.validation.rules.base import Reporter
from dw_lsp.workflow.document import Path
from dw_lsp.workflow.outline import Outline, Region, Step
from dw_lsp.workflow.refs import PREVIOUS_RESULT, VARIABLE, split_previous_result

CARTESIAN_LIMIT = 10_000
SEGMENTS_LIMIT = 1_000
#: Estimates are capped here, so a long chain of fan-outs stays a small integer.
_CAP = CARTESIAN_LIMIT**2


def check_pipelines(outline: Outline, report: Reporter) -> None:
    for step in outline.steps:
        if step.kind not in ("pipeline", "pipeline_reference"):
            continue
        base = (*step.path, step.kind)
        config = step.body.get("configuration")
        arguments = step.body.get("arguments")
        args = arguments if isinstance(arguments, dict) else {}
        if isinstance(config, dict):
            _configuration(report, step, config, args, (*base, "configuration"))
        chain = step.body.get("chain")
        if isinstance(chain, dict):
            _chain(report, chain, args, base)
    _cartesian(outline, report)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _configuration(
    report: Reporter, step: Step, config: dict[str, Any], args: dict[str, Any], path: Path
) -> None:
    if "cache" in config and "teacache" in config:
        report.key(
            "DW230",
            (*path, "teacache"),
            '"cache" and "teacache" are mutually exclusive; keep one of them.',
        )
    if config.get("prompt_weighting") is True and "remote_text_encoder" in step.body:
        report.key(
            "DW230",
            (*path, "prompt_weighting"),
            "prompt_weighting has no effect with a remote_text_encoder (the remote encoder "
            "silently wins); remove one of them.",
        )
    if config.get("inversion") is True and config.get("generate") is True:
        report.key(
            "DW230",
            (*path, "generate"),
            '"inversion" and "generate" are mutually exclusive and inversion wins; remove one.',
        )
    if "teacache" in config and "num_inference_steps" not in args:
        report.key(
            "DW231",
            (*path, "teacache"),
            "TeaCache needs a num_inference_steps argument; without it dw logs a warning "
            'and runs without TeaCache. Add num_inference_steps to "arguments".',
        )
    cache = config.get("cache")
    if (
        isinstance(cache, dict)
        and cache.get("type") == "mag"
        and "mag_ratios" not in cache
        and cache.get("calibrate") is not True
    ):
        report.value(
            "DW231",
            (*path, "cache", "type"),
            'The mag cache needs "mag_ratios" (a preset name or a list of numbers) unless '
            '"calibrate" is true; loading fails otherwise.',
        )
    components = config.get("components")
    if isinstance(components, dict):
        for name, entry in components.items():
            if (
                isinstance(entry, dict)
                and "group_offload" in entry
                and entry.get("residency") == "on_demand"
            ):
                report.value(
                    "DW232",
                    (*path, "components", name, "residency"),
                    f"Component '{name}' has both group_offload and residency on_demand, an "
                    "error when the pipeline loads; keep one of them.",
                )
    _modular(report, config, path)


def _modular(report: Reporter, config: dict[str, Any], path: Path) -> None:
    """Rule 26, where the class name settles it: a ``...Pipeline`` that is not modular."""
    kind = config.get("component_type")
    if not isinstance(kind, str) or kind.startswith(VARIABLE):
        return
    last = kind.rsplit(".", 1)[-1]
    # DiffusionPipeline dispatches on the repository, so it may well load a modular one
    generic = last in ("DiffusionPipeline", "AutoPipeline")
    if not last.endswith("Pipeline") or "Modular" in last or "modular" in kind or generic:
        return
    for key in ("load_components", "configs"):
        if key in config:
            report.key(
                "DW238",
                (*path, key),
                f'"{key}" applies only to modular pipelines; {last} is a standard pipeline, '
                "so loading fails. Remove it or use a modular component_type.",
            )


def _chain(report: Reporter, chain: dict[str, Any], args: dict[str, Any], base: Path) -> None:
    path = (*base, "chain")
    segments = _int(chain.get("segments"))
    if segments is not None and segments > SEGMENTS_LIMIT:
        report.value(
            "DW229", (*path, "segments"), f"A chain has at most {SEGMENTS_LIMIT} segments."
        )
    if chain.get("continuity") == "last_segment":
        target = chain.get("segment_argument", "image")
        if isinstance(target, str):
            value = args.get(target)
            if target not in args:
                report.value(
                    "DW229",
                    (*path, "continuity"),
                    f"last_segment carries the previous segment into the list argument "
                    f"'{target}', which this step does not have; add it (e.g. \"references\": "
                    "[...]) and set segment_argument.",
                )
            elif not isinstance(value, list) and not _is_ref(value):
                report.value(
                    "DW229",
                    (*base, "arguments", target),
                    f"last_segment appends the carried segment to '{target}', so it must be a "
                    "list (of references).",
                )
    has_fps = "fps" in chain or "frame_rate" in args
    for key in ("match_audio", "save_segments"):
        if chain.get(key) is True and not has_fps:
            report.key(
                "DW229",
                (*path, key),
                f'{key} needs a frame rate: set chain "fps" or a frame_rate argument.',
                InsertKey(path, "fps", 24),
            )
    if chain.get("match_audio") is True:
        _match_audio(report, args, path)
    _frame_snap(report, chain, args, path, base)


def _is_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith((VARIABLE, PREVIOUS_RESULT))


def _match_audio(report: Reporter, args: dict[str, Any], path: Path) -> None:
    if "num_frames" not in args:
        report.key(
            "DW229",
            (*path, "match_audio"),
            "match_audio needs a num_frames argument (the length of one segment).",
        )
    references = args.get("references")
    if references is None:
        report.key(
            "DW229",
            (*path, "match_audio"),
            "match_audio takes the length from the one audio reference in the "
            '"references" argument, which this step does not have.',
        )
        return
    if not isinstance(references, list):
        return
    kinds: list[str] = []
    for item in references:
        type_value = (
            next((v for k, v in item.items() if k.endswith("_type") and isinstance(v, str)), None)
            if isinstance(item, dict)
            else None
        )
        if type_value is None or _is_ref(type_value):
            return  # not statically visible
        kinds.append(type_value)
    audio = sum(1 for t in kinds if "Audio" in t.rsplit(".", 1)[-1])
    if audio != 1:
        report.key(
            "DW229",
            (*path, "match_audio"),
            f'match_audio needs exactly one audio reference in "references"; there '
            f"{'is none' if audio == 0 else f'are {audio}'}.",
        )


def _frame_snap(
    report: Reporter, chain: dict[str, Any], args: dict[str, Any], path: Path, base: Path
) -> None:
    snap = chain.get("frame_snap")
    frames = _int(args.get("num_frames"))
    if not isinstance(snap, dict) or frames is None:
        return
    modulus, remainder = _int(snap.get("modulus")), _int(snap.get("remainder"))
    low, high = _int(snap.get("min_frames")), _int(snap.get("max_frames"))
    if modulus is None or remainder is None or modulus < 1:
        return
    ok = frames % modulus == remainder % modulus
    ok = ok and (low is None or frames >= low) and (high is None or frames <= high)
    if ok:
        return
    candidates = [
        n
        for n in range(max(1, frames - modulus), frames + modulus + 1)
        if n % modulus == remainder % modulus
        and (low is None or n >= low)
        and (high is None or n <= high)
    ]
    best = sorted(candidates, key=lambda n: abs(n - frames))[:2]
    rule = f"n % {modulus} == {remainder}"
    if low is not None or high is not None:
        rule += f", {low if low is not None else 1} <= n <= {high if high is not None else '...'}"
    report.value(
        "DW229",
        (*base, "arguments", "num_frames"),
        f"num_frames {frames} does not satisfy the chain's frame_snap ({rule})"
        + (f"; try {' or '.join(map(str, best))}." if best else "."),
        replacing(str(n) for n in best),
    )


def _cartesian(outline: Outline, report: Reporter) -> None:
    """Rule 22, as a lower-bound estimate: unknown counts are taken as 1."""
    artifacts: dict[str, int] = {}
    iterations: dict[str, int] = {}
    axes: dict[int, list[tuple[Path, str, bool]]] = {}
    for ref in outline.previous_refs:
        if ref.region == Region.ARGUMENTS:
            head, prop = split_previous_result(ref.body, outline.earlier(ref.step))
            axes.setdefault(ref.step, []).append((ref.path, head, prop is not None))
    for desc in outline.descriptions:
        name = desc.value.get("from_previous_result")
        if isinstance(name, str) and desc.step >= 0:
            axes.setdefault(desc.step, []).append(
                ((*desc.path, "from_previous_result"), name, False)
            )
    for step in outline.steps:
        runs = 1
        empty: list[tuple[Path, str]] = []
        for path, name, per_iteration in axes.get(step.index, ()):
            table = iterations if per_iteration else artifacts
            if name not in table:
                continue
            runs = min(runs * table[name], _CAP)
            if table[name] == 0:
                empty.append((path, name))
        inputs = step.body.get("inputs")
        if step.kind == "task" and isinstance(inputs, list):
            runs = len(inputs)
        for path, name in empty:
            report.value(
                "DW228",
                path,
                f"Step '{name}' produces no results, so this step runs 0 times (dw only logs "
                "a warning).",
            )
        if runs > CARTESIAN_LIMIT:
            report.key(
                "DW228",
                (*step.path, step.kind or "", "arguments"),
                f"These previous_result references make at least {runs:,} combinations; dw "
                f"stops at {CARTESIAN_LIMIT:,}. Each reference is its own axis: reference a "
                "step once, or gather its results first.",
            )
        if step.name is not None:
            iterations[step.name] = runs
            artifacts[step.name] = min(runs * _per_run(outline, step), _CAP)


def _per_run(outline: Outline, step: Step) -> int:
    """Artifacts one run of a step gives, where the file says (else 1)."""
    args = step.body.get("arguments")
    if not isinstance(args, dict):
        return 1
    if step.kind == "task" and step.body.get("command") in ("gather_images", "gather_videos"):
        urls = args.get("urls")
        if isinstance(urls, list) and "glob" not in args:
            return len(urls)
        return 1
    for key in ("num_images_per_prompt", "num_videos_per_prompt"):
        value = args.get(key)
        if isinstance(value, str) and value.startswith(VARIABLE) and outline.variables:
            value = outline.variables.get(value[len(VARIABLE) :])
        count = _int(value)
        if count is not None and count >= 0:
            return count
    return 1
