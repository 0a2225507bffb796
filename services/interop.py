"""Other tools' generation metadata (and Atelier's own), from the texts an image carries to one normalized record.

The texts come from metadata.read_texts: PNG text chunks by keyword, `exif:<Tag>`, `xmp:...`, `comment`. Formats
(see the project's interop notes): Automatic1111/Forge infotext, ComfyUI's API graph, InvokeAI's
`invokeai_metadata` (and the older `sd-metadata`), Fooocus's JSON `parameters` beside `fooocus_scheme`, Atelier's
`atelier` record. Everything is read defensively: any value may be of any type, a graph may be huge, cyclic or odd.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from services.infotext import parse_infotext

SOURCES = ("a1111", "comfyui", "invokeai", "fooocus", "atelier", "unknown")
_SIZE = re.compile(r"^(\d+)x(\d+)$")
_MAX_GRAPH_STEPS = 2000  # nodes visited while following one graph's links


@dataclass(slots=True)  # not frozen: a frozen one sets each field by object.__setattr__, ~3x the cost per file
class ImageInfo:
    source: str = "unknown"  # one of SOURCES
    prompt: str = ""
    negative_prompt: str = ""
    model: str | None = None
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    sampler: str | None = None
    cfg: float | None = None
    parameters: dict[str, str] = field(default_factory=dict)  # the tool's own key/value settings, as text
    raw: str = ""  # the text the record was read from (infotext or JSON), as found (texts are capped at 8 MB)
    record: dict | None = None  # Atelier's own record, when source is "atelier"


def from_texts(texts: dict[str, str], atelier: dict | None = None, problems: list[str] | None = None) -> ImageInfo:
    """The one record that best describes the image. `atelier` is Atelier's checked record, if there is one."""
    problems = [] if problems is None else problems
    if atelier is not None:
        return _from_atelier(atelier, texts.get("parameters") or texts.get("exif:UserComment", ""))
    if "invokeai_metadata" in texts or "sd-metadata" in texts:
        found = _from_invokeai(texts, problems)
        if found:
            return found
    if "fooocus_scheme" in texts or "fooocus" in texts.get("exif:MakerNote", "").lower():
        text = texts.get("parameters") or texts.get("exif:UserComment", "")
        found = _from_fooocus(text) if text.lstrip().startswith("{") else _from_infotext(text, "fooocus", 0)
        if found:
            return found
    graph_text = texts.get("prompt") or _prefixed(texts, "prompt:")
    if graph_text and graph_text.lstrip().startswith("{"):
        graph = _json(graph_text, problems)
        if isinstance(graph, dict):
            return _from_comfyui(graph, graph_text)
    if "parameters" in texts and texts["parameters"].lstrip().startswith("{"):
        found = _from_fooocus(texts["parameters"])  # Fooocus without its scheme chunk
        if found:
            return found
    for key, least in (("parameters", 0), ("exif:UserComment", 3), ("xmp:UserComment", 3), ("xmp:description", 3)):
        found = _from_infotext(texts.get(key, ""), "a1111", least)
        if found:
            return found
    if graph_text or "workflow" in texts or _prefixed(texts, "workflow:"):
        return ImageInfo(source="comfyui", raw=graph_text or "")  # an editor graph only: nothing to read for sure
    for key in ("comment", "Description", "Comment", "exif:ImageDescription"):
        found = _from_infotext(texts.get(key, ""), "a1111", 3)
        if found:
            return found
    return ImageInfo()


def from_parameters(text: str) -> ImageInfo | None:
    """from_texts({"parameters": text}) when that text is an A1111 infotext (not Fooocus's JSON), else None: what
    most files an import meets carry, read without from_texts's search through the other tools' keys."""
    return None if text.lstrip().startswith("{") else _from_infotext(text, "a1111", 0)


# --- Automatic1111 infotext ---------------------------------------------------------------------------------------


def _from_infotext(text: str, source: str, least: int) -> ImageInfo | None:
    if not text or text.isspace():
        return None
    prompt, negative, params = parse_infotext(text)
    if len(params) < least or not (prompt or params):
        return None
    get = params.get
    size = _SIZE.match(get("Size", ""))
    return ImageInfo(  # by position, in the fields' order: keywords cost a dict per call (twice the time)
        source,
        prompt,
        negative,
        get("Model") or None,  # model
        _int(get("Seed")),
        _dimension(size[1]) if size else None,  # width
        _dimension(size[2]) if size else None,  # height
        _int(get("Steps")),
        get("Sampler") or None,  # sampler
        _float(get("CFG scale")),
        params,
        text,  # raw
    )


def _from_atelier(record: dict, infotext: str) -> ImageInfo:
    request = record.get("request") or {}
    params = parse_infotext(infotext)[2] if infotext else {}
    size = _SIZE.match(params.get("Size", ""))
    return ImageInfo(
        source="atelier",
        prompt=str(request.get("prompt") or ""),
        model=_text(record.get("model") or request.get("model")),
        seed=_int(request.get("seed")),
        width=_dimension(size.group(1)) if size else None,
        height=_dimension(size.group(2)) if size else None,
        parameters=params,
        raw=infotext,
        record=record,
    )


# --- JSON formats -------------------------------------------------------------------------------------------------


def _from_invokeai(texts: dict[str, str], problems: list[str]) -> ImageInfo | None:
    raw = texts.get("invokeai_metadata") or texts.get("sd-metadata", "")
    data = _json(raw, problems)
    if not isinstance(data, dict):
        return None
    image = data.get("image") if isinstance(data.get("image"), dict) else {}  # InvokeAI 2.x sd-metadata
    prompt = data.get("positive_prompt", image.get("prompt"))
    if isinstance(prompt, list):  # 2.x: [{"prompt": "...", "weight": 1}]
        prompt = " ".join(str(p.get("prompt", "")) for p in prompt[:50] if isinstance(p, dict))
    model = data.get("model", data.get("model_weights"))
    if isinstance(model, dict):
        model = model.get("name") or model.get("model_name") or model.get("key")

    def get(key, old=None):
        return data.get(key, image.get(old or key))

    return ImageInfo(
        source="invokeai",
        prompt=_text(prompt) or "",
        negative_prompt=_text(data.get("negative_prompt")) or "",
        model=_text(model),
        seed=_int(get("seed")),
        width=_dimension(get("width")),
        height=_dimension(get("height")),
        steps=_int(get("steps")),
        sampler=_text(data.get("scheduler", image.get("sampler"))),
        cfg=_float(get("cfg_scale")),
        parameters=_scalars(data),
        raw=raw,
    )


def _from_fooocus(text: str) -> ImageInfo | None:
    data = _json(text, [])
    if not isinstance(data, dict):
        return None
    width = height = None
    resolution = re.match(r"^\(?\s*(\d+)\s*[,x×*]\s*(\d+)\s*\)?$", str(data.get("resolution", "")))
    if resolution:
        width, height = _dimension(resolution.group(1)), _dimension(resolution.group(2))
    return ImageInfo(
        source="fooocus",
        prompt=_text(data.get("prompt")) or "",
        negative_prompt=_text(data.get("negative_prompt")) or "",
        model=_text(data.get("base_model")),
        seed=_int(data.get("seed")),
        width=width,
        height=height,
        steps=_int(data.get("steps")),
        sampler=_text(data.get("sampler")),
        cfg=_float(data.get("guidance_scale")),
        parameters=_scalars(data),
        raw=text,
    )


# --- ComfyUI API graph --------------------------------------------------------------------------------------------

_TEXT_INPUTS = ("text", "text_g", "text_l", "prompt", "string", "value", "text_positive", "text_negative")
_NOT_CONDITIONING = {"clip", "model", "vae", "image", "images", "pixels", "samples", "latent_image", "mask"}
_MODEL_INPUTS = ("ckpt_name", "unet_name", "model_name", "checkpoint")


def _from_comfyui(graph: dict, raw: str) -> ImageInfo:
    nodes = {str(k): v for k, v in graph.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}
    sampler_id = _pick_sampler(nodes)
    inputs = nodes[sampler_id]["inputs"] if sampler_id else {}
    budget = [_MAX_GRAPH_STEPS]
    positive = _texts_along(nodes, inputs.get("positive"), budget)
    negative = _texts_along(nodes, inputs.get("negative"), budget)
    model = _first_along(nodes, inputs.get("model"), _MODEL_INPUTS, budget) or _any_input(nodes, _MODEL_INPUTS)
    latent = _node_along(nodes, inputs.get("latent_image"), ("width", "height"), budget)
    size = latent or next((n["inputs"] for n in nodes.values() if _has_size(n["inputs"])), {})
    return ImageInfo(
        source="comfyui",
        prompt="\n".join(positive),
        negative_prompt="\n".join(negative),
        model=model,
        seed=_int(_resolve(nodes, inputs.get("seed", inputs.get("noise_seed")), ("seed", "noise_seed", "value"))),
        width=_dimension(_resolve(nodes, size.get("width"), ("width", "value"))),
        height=_dimension(_resolve(nodes, size.get("height"), ("height", "value"))),
        steps=_int(_resolve(nodes, inputs.get("steps"), ("steps", "value"))),
        sampler=_text(_resolve(nodes, inputs.get("sampler_name"), ("sampler_name", "value"))),
        cfg=_float(_resolve(nodes, inputs.get("cfg"), ("cfg", "value"))),
        parameters=_scalars(inputs),
        raw=raw,
    )


def _pick_sampler(nodes: dict[str, dict]) -> str | None:
    """The first sampler (by node id) that takes positive conditioning; a hires-fix second pass comes later."""

    def order(node_id: str):
        return (0, int(node_id), "") if node_id.isdecimal() and len(node_id) < 18 else (1, 0, node_id)

    candidates = [i for i, n in nodes.items() if "positive" in n["inputs"]]
    samplers = [i for i in candidates if "sampler" in str(nodes[i].get("class_type", "")).lower()]
    chosen = sorted(samplers or candidates, key=order)
    return chosen[0] if chosen else None


def _link(nodes: dict[str, dict], value) -> str | None:
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str | int) and str(value[0]) in nodes:
        return str(value[0])
    return None


def _texts_along(nodes: dict[str, dict], start, budget: list[int]) -> list[str]:
    """The prompt texts feeding a conditioning input: depth first through links (combine, concat, control nets,
    text nodes feeding a CLIPTextEncode), each node once, at most _MAX_GRAPH_STEPS nodes per graph."""
    found: list[str] = []
    found_set: set[str] = set()
    stack = [start]
    seen: set[str] = set()
    while stack and budget[0] > 0:
        link = stack.pop()
        node_id = _link(nodes, link)
        if node_id is None or node_id in seen:
            continue
        seen.add(node_id)
        budget[0] -= 1
        inputs = nodes[node_id]["inputs"]
        skip = set(_NOT_CONDITIONING)
        if "positive" in inputs and "negative" in inputs:  # a node passing both on: output 0 is positive, 1 negative
            skip.add("negative" if link[1] == 0 else "positive")
        follow = []
        for key, value in inputs.items():
            if key in _TEXT_INPUTS and isinstance(value, str):
                if value.strip() and value not in found_set:
                    found.append(value)
                    found_set.add(value)
            elif key not in skip and _link(nodes, value):
                follow.append(value)
        stack.extend(reversed(follow))
    return found


def _walk(nodes: dict[str, dict], start, budget: list[int]):
    """The inputs of each node up the links from `start` (depth first, each node once, within the budget)."""
    seen: set[str] = set()
    stack = [start]
    while stack and budget[0] > 0:
        node_id = _link(nodes, stack.pop())
        if node_id is None or node_id in seen:
            continue
        seen.add(node_id)
        budget[0] -= 1
        inputs = nodes[node_id]["inputs"]
        yield inputs
        stack.extend(v for v in inputs.values() if _link(nodes, v))


def _node_along(nodes: dict[str, dict], start, keys: tuple[str, ...], budget: list[int]) -> dict | None:
    """The inputs of the first node up a chain of links that has all `keys`."""
    return next((inputs for inputs in _walk(nodes, start, budget) if all(k in inputs for k in keys)), None)


def _first_along(nodes: dict[str, dict], start, keys: tuple[str, ...], budget: list[int]) -> str | None:
    """The first text under one of `keys` up a chain of links (a checkpoint's name behind LoRA loaders)."""
    for inputs in _walk(nodes, start, budget):
        for key in keys:
            if isinstance(inputs.get(key), str):
                return inputs[key]
    return None


def _any_input(nodes: dict[str, dict], keys: tuple[str, ...]) -> str | None:
    for node in nodes.values():
        for key in keys:
            if isinstance(node["inputs"].get(key), str):
                return node["inputs"][key]
    return None


def _has_size(inputs: dict) -> bool:
    return "width" in inputs and "height" in inputs


def _resolve(nodes: dict[str, dict], value, keys: tuple[str, ...], depth: int = 8):
    """A literal input, or the literal a linked node (a primitive, a seed node) holds under one of `keys`."""
    while depth > 0 and (node_id := _link(nodes, value)):
        inputs = nodes[node_id]["inputs"]
        value = next((inputs[k] for k in keys if k in inputs), None)
        depth -= 1
    return None if isinstance(value, list | dict) else value


# --- values of any type -------------------------------------------------------------------------------------------


def _prefixed(texts: dict[str, str], prefix: str) -> str:
    """ComfyUI's EXIF strings: `prompt:{...}` in one of IFD0's text tags (Model, Make or ImageDescription)."""
    for key, text in texts.items():
        if key.startswith("exif:") and text[: len(prefix)].lower() == prefix:
            return text[len(prefix) :]
    return ""


def _json(text: str, problems: list[str]):
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        problems.append("damaged JSON metadata")
        return None


def _text(value) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value) -> int | None:
    if value.__class__ is str and len(value) <= 40:  # the usual case, an infotext's "20": int() strips itself
        try:
            return int(value)
        except ValueError:
            return None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str) and 0 < len(value.strip()) <= 40:
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def _float(value) -> float | None:
    text = value.__class__ is str or isinstance(value, str)  # the usual case first: an infotext's "7"
    if not text and (isinstance(value, bool) or not isinstance(value, int | float)):
        return None
    try:
        number = float(value.strip() if text else value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _dimension(value) -> int | None:
    number = _int(value)
    return number if number is not None and 0 < number <= 1_000_000 else None


def _scalars(data: dict) -> dict[str, str]:
    return {str(k): str(v) for k, v in list(data.items())[:200] if isinstance(v, str | int | float | bool)}
