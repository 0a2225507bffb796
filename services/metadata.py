"""What made an image, written into the image file itself (or a sidecar), and read back from any tool's files.

Writing (Atelier's own files), so that other tools' readers find the prompt and parameters:
- PNG: a `parameters` text chunk in Automatic1111's infotext (the prompt, then one line of `Key: value` pairs that
  starts with `Steps:`, the line Diffusion Toolkit looks for) and an `atelier` iTXt chunk with the full record as
  JSON. Never a `prompt` chunk: readers take a JSON `prompt` chunk for a ComfyUI graph.
- JPEG: the infotext as EXIF UserComment in UNICODE (UTF-16BE), as Automatic1111 writes it, and the record as COM
  segments starting `atelier-json:` (split over several when it is long).
- WebP and any file carrying a C2PA manifest are kept byte for byte and the record goes to `<file>.atelier.json`,
  because inserting anything would break the manifest's signature (and WebP needs its header rewritten to take one).

Reading is total: damaged or foreign bytes are "no metadata here", logged once per file, never an exception.
"""

from __future__ import annotations

import html
import json
import logging
import math
from pathlib import Path

from services import exif, interop
from services.containers import (
    APP1,
    APP11,
    COM,
    MAX_SEGMENT_BODY,
    MAX_TEXT_BYTES,
    PNG_SIGNATURE,
    jpeg_segment,
    jpeg_segments,
    png_chunk,
    png_chunks,
    riff_chunks,
)
from services.containers import png_texts as png_text_list
from services.imaging import image_header

log = logging.getLogger(__name__)

JSON_KEYWORD = "atelier"
PARAMETERS_KEYWORD = "parameters"
JPEG_JSON_PREFIX = b"atelier-json:"
SIDECAR_SUFFIX = ".atelier.json"
XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\0"
# Atelier makes each image in one request: no sampler steps. Diffusion Toolkit reads parameters only from a line
# that starts with `Steps:` (and parses its value as an integer), so the line starts with this.
STEPS = 1


# --- writing -------------------------------------------------------------------------------------------------------


def parameters_line(record: dict, width: int, height: int) -> str:
    """The infotext's last line: `Steps` first (Diffusion Toolkit), then the A1111 keys readers know, then ours."""
    request = record.get("request", {})
    fields = [
        ("Steps", STEPS),
        ("Seed", request.get("seed")),
        ("Size", f"{width}x{height}"),
        ("Model", record.get("model") or request.get("model")),
        ("Aspect ratio", request.get("aspect_ratio")),
        ("Image size", request.get("size")),
        ("Person generation", request.get("person_generation")),
        ("Reference images", len(request.get("references") or []) or None),
        ("Generation", record.get("generation_id")),
        ("Generator", record.get("generator")),
    ]
    return ", ".join(f"{name}: {_quote(str(value))}" for name, value in fields if value is not None and value != "")


def _quote(text: str) -> str:
    """Automatic1111's quoting: a value with `,`, `:` or a newline goes as a JSON string."""
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def parameters_text(record: dict, width: int, height: int) -> str:
    prompt = str(record.get("request", {}).get("prompt", ""))
    return f"{prompt}\n{parameters_line(record, width, height)}"


def has_c2pa(data: bytes, mime: str) -> bool:
    if mime == "image/png":
        return any(kind == b"caBX" for kind, _, _ in png_chunks(data))
    if mime == "image/jpeg":
        return any(marker == APP11 for marker, _, _ in jpeg_segments(data))
    if mime == "image/webp":
        return b"C2PA" in data[12:4096] or b"c2pa" in data[12:4096]
    return False


def can_embed(data: bytes, mime: str) -> bool:
    return mime in ("image/png", "image/jpeg") and not has_c2pa(data, mime)


def embed(data: bytes, mime: str, record: dict, width: int, height: int) -> bytes:
    """The same image with the metadata inside. Only for can_embed() files; the pixel data is untouched."""
    payload = json.dumps(record, ensure_ascii=False, sort_keys=True)
    if mime == "image/png":
        chunks = [_png_text_chunk(PARAMETERS_KEYWORD, parameters_text(record, width, height))]
        return _png_insert(data, chunks + [_png_itxt_chunk(JSON_KEYWORD, payload)])
    if mime == "image/jpeg":
        return _jpeg_insert(data, record, payload.encode("utf-8"), width, height)
    raise ValueError(f"cannot embed metadata in {mime}")


def sidecar_bytes(record: dict) -> bytes:
    return json.dumps(record, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


def _png_text_chunk(keyword: str, text: str) -> bytes:
    try:
        return png_chunk(b"tEXt", keyword.encode("latin-1") + b"\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_itxt_chunk(keyword, text)


def _png_itxt_chunk(keyword: str, text: str) -> bytes:
    return png_chunk(b"iTXt", keyword.encode("latin-1") + b"\0\0\0\0\0" + text.encode("utf-8"))


def _png_insert(data: bytes, chunks: list[bytes]) -> bytes:
    for kind, start, _end in png_chunks(data):
        if kind == b"IDAT":
            at = start - 8
            return data[:at] + b"".join(chunks) + data[at:]
    raise ValueError("PNG without image data")


def _jpeg_insert(data: bytes, record: dict, payload: bytes, width: int, height: int) -> bytes:
    """EXIF first (after JFIF's APP0), so that it is the EXIF readers take; the record's comments after the APPn."""
    after_app0 = after_apps = 2
    orientation = None
    for marker, start, end in jpeg_segments(data):
        if not 0xE0 <= marker <= 0xEF:
            break
        if marker == 0xE0 and after_apps == after_app0:
            after_app0 = end
        if marker == APP1 and orientation is None and data[start : start + 6] == exif.EXIF_HEADER:
            orientation = exif.parse(data[start:end]).orientation  # kept: our EXIF is the one viewers will read
        after_apps = end
    line = parameters_line(record, width, height)
    prompt = str(record.get("request", {}).get("prompt", ""))
    app1 = exif.user_comment_app1(_fit_prompt(prompt, line, orientation), orientation)
    step = MAX_SEGMENT_BODY - len(JPEG_JSON_PREFIX)
    comments = b"".join(
        jpeg_segment(COM, JPEG_JSON_PREFIX + payload[i : i + step]) for i in range(0, len(payload), step)
    )
    exif_segment = jpeg_segment(APP1, app1)
    return data[:after_app0] + exif_segment + data[after_app0:after_apps] + comments + data[after_apps:]


def _fit_prompt(prompt: str, line: str, orientation: int | None) -> str:
    """The infotext, its prompt shortened (with an ellipsis) if the whole would not fit one EXIF segment."""
    room = MAX_SEGMENT_BODY - len(exif.user_comment_app1("", orientation))
    text = f"{prompt}\n{line}"
    if len(text.encode("utf-16-be")) <= room:
        return text
    keep = max(0, room - len(f"…\n{line}".encode("utf-16-be")))
    short = prompt.encode("utf-16-be")[: keep // 2 * 2].decode("utf-16-be", errors="ignore")
    text = f"{short}…\n{line}"
    return text.encode("utf-16-be")[: room // 2 * 2].decode("utf-16-be", errors="ignore")  # a line too long itself


# --- reading -------------------------------------------------------------------------------------------------------


def read_texts(
    data: bytes, problems: list[str] | None = None, png_walk: tuple[list[tuple[str, str]], list[bytes]] | None = None
) -> dict[str, str]:
    """Every text an image carries, by name: PNG text chunks by keyword; `exif:<Tag>` from EXIF (JPEG APP1, WebP
    EXIF, PNG eXIf); `comment` (the last JPEG COM that is not Atelier's); `xmp`, `xmp:description`,
    `xmp:UserComment`; `atelier` (Atelier's JSON). Total: what is damaged is skipped and noted in `problems`.
    `png_walk`: a PNG's texts and eXIf from containers.png_texts, when the caller has walked its chunks already."""
    texts: dict[str, str] = {}
    exif_blocks: list[bytes] = []
    if data.startswith(PNG_SIGNATURE):
        if png_walk is None:
            png_walk = (png_text_list(data, problems, exif_blocks), exif_blocks)  # and the first eXIf chunk
        texts.update(png_walk[0])
        exif_blocks = png_walk[1]
        if "XML:com.adobe.xmp" in texts:
            texts["xmp"] = texts["XML:com.adobe.xmp"]
    elif data.startswith(b"\xff\xd8"):
        atelier_parts: list[bytes] = []
        atelier_size = 0
        for marker, start, end in jpeg_segments(data, problems):
            body = data[start:end]
            if marker == COM and body.startswith(JPEG_JSON_PREFIX):
                if atelier_size < MAX_TEXT_BYTES:
                    atelier_parts.append(body[len(JPEG_JSON_PREFIX) :])
                    atelier_size += end - start
            elif marker == COM:
                texts["comment"] = body.decode("utf-8", errors="replace")
            elif marker == APP1 and body.startswith(exif.EXIF_HEADER):
                exif_blocks.append(body)
            elif marker == APP1 and body.startswith(XMP_APP1_HEADER) and "xmp" not in texts:
                texts["xmp"] = body[len(XMP_APP1_HEADER) :].decode("utf-8", errors="replace")
        if atelier_parts:
            texts[JSON_KEYWORD] = b"".join(atelier_parts).decode("utf-8", errors="replace")
    else:
        for kind, start, end in riff_chunks(data, problems):
            if kind == b"EXIF":
                exif_blocks.append(data[start:end])
            elif kind == b"XMP " and end - start <= MAX_TEXT_BYTES:
                texts["xmp"] = data[start:end].decode("utf-8", errors="replace")
    for block in exif_blocks:
        for name, text in exif.parse(block, problems).texts().items():
            texts.setdefault(f"exif:{name}", text)  # the first EXIF wins, as in the readers other tools use
    if "xmp" in texts:
        texts.update(_xmp_texts(texts["xmp"]))
    return texts


def _xmp_texts(xmp: str) -> dict[str, str]:
    """dc:description and exif:UserComment from an XMP packet, found by plain search (no XML parser on foreign
    bytes: entity expansion is a bomb of its own)."""
    found = {}
    for tag, name in (("dc:description", "xmp:description"), ("exif:UserComment", "xmp:UserComment")):
        at = xmp.find(f"<{tag}")
        close = xmp.find(f"</{tag}>", at)
        if at < 0 or close < 0:
            continue
        inner = xmp[at:close]
        li = inner.find("<rdf:li")
        if li >= 0:
            start = inner.find(">", li) + 1
            end = inner.find("</rdf:li>", start)
            if start > 0 and end >= 0:
                found[name] = html.unescape(inner[start:end])
    return found


def atelier_record(value, problems: list[str] | None = None) -> dict | None:
    """An Atelier record whose fields have the types the library relies on, or None when it is not one.

    Keeps what is well-formed, drops or defaults what is not (a damaged or hand-edited file must not stop a rebuild);
    each field dropped is named in `problems`.
    """
    if not isinstance(value, dict):
        return None
    gid = value.get("generation_id")
    if not isinstance(gid, str | int) or isinstance(gid, bool) or str(gid) == "":
        return None
    dropped: list[str] = []
    record = dict(value, generation_id=str(gid))
    ts = record.get("created_ts")
    if ts is not None and not (
        isinstance(ts, int | float) and not isinstance(ts, bool) and math.isfinite(ts) and 0 < ts < 1e11
    ):
        record.pop("created_ts")
        dropped.append("created_ts")
    index = record.get("index")
    if index is not None and not (isinstance(index, int) and not isinstance(index, bool) and 0 <= index < 10_000):
        dropped.append("index")
        index = None
    record["index"] = index or 0
    if "request" in record and not isinstance(record["request"], dict):
        dropped.append("request")
    request = dict(record["request"]) if isinstance(record.get("request"), dict) else {}
    for key in ("prompt", "model", "protocol", "aspect_ratio", "size", "person_generation"):
        wrong = request.get(key)
        if key in request and not isinstance(wrong, str):
            request.pop(key)
            dropped += [f"request.{key}"] if wrong is not None else []
    seed = request.get("seed")
    if "seed" in request and seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        dropped.append("request.seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        request.pop("seed", None)
    if not isinstance(request.get("references", []), list):
        request["references"] = []
        dropped.append("request.references")
    request.setdefault("prompt", "")
    record["request"] = request
    for key in ("model", "endpoint", "text", "generator", "created_at"):
        wrong = record.get(key)
        if key in record and not isinstance(wrong, str):
            record.pop(key)
            dropped += [key] if wrong is not None else []
    if dropped and problems is not None:
        problems.append("Atelier's metadata had wrong values in " + ", ".join(dropped))
    return record


def _record_from_json(text: str | None, problems: list[str]) -> dict | None:
    if not text:
        return None
    try:
        record = atelier_record(json.loads(text), problems)
    except (ValueError, RecursionError):
        record = None
    if record is None:
        problems.append("Atelier's metadata is damaged")
    return record


def read_embedded(data: bytes, name: str = "", problems: list[str] | None = None) -> dict | None:
    """Atelier's record inside a PNG or JPEG (checked, see atelier_record), or None. Never raises.

    What was damaged is logged once and, when `problems` is given, added to it."""
    found: list[str] = []
    record = _record_from_json(read_texts(data, found).get(JSON_KEYWORD), found)
    _report(name, found)
    if problems is not None:
        problems.extend(found)
    return record


def sidecar_path(image_path: str | Path) -> Path:
    image_path = Path(image_path)
    return image_path.with_name(image_path.name + SIDECAR_SUFFIX)


def read_sidecar(image_path: str | Path, problems: list[str] | None = None) -> dict | None:
    """Atelier's record from `<image>.atelier.json` (checked, see atelier_record), or None. Never raises."""
    path = sidecar_path(image_path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_TEXT_BYTES + 1)
    except OSError:
        return None
    own = [] if problems is None else problems
    record = None if len(raw) > MAX_TEXT_BYTES else _record_from_json(raw.decode("utf-8", errors="replace"), own)
    if record is None:
        own.append(f"sidecar {path.name} is not Atelier's metadata")
        if problems is None:
            _report(str(image_path), own)
    return record


def png_texts(data: bytes) -> dict[str, str]:
    """A PNG's readable text chunks by keyword (the last of each wins, as in PIL)."""
    return dict(png_text_list(data))


def read_info(data: bytes, name: str = "", image_path: str | Path | None = None) -> interop.ImageInfo:
    """What made this image, whichever tool wrote it: one normalized record (see interop.ImageInfo).

    `image_path`, when given, lets an Atelier sidecar speak for a file that has no embedded record. Never raises:
    anything malformed is "no metadata here" and is logged once for the file.
    """
    problems: list[str] = []
    try:
        if data.startswith(PNG_SIGNATURE):  # its chunks walked once, for the shortcut and the general way both
            png_walk = (png_text_list(data, problems, exif_blocks := []), exif_blocks)
            if image_path is None and (info := _parameters_only(data, png_walk, problems)) is not None:
                return info
            texts = read_texts(data, problems, png_walk)
        else:
            texts = read_texts(data, problems)
        record = _record_from_json(texts.get(JSON_KEYWORD), problems)
        if record is None and image_path is not None:
            record = read_sidecar(image_path, problems)
        info = interop.from_texts(texts, record, problems)
        if info.width is None or info.height is None:
            header = image_header(data)
            if header:
                info.width, info.height = header[1], header[2]
    except Exception:  # a bug in a reader of foreign bytes must not stop a library from opening: say so, go on
        log.exception("reading the metadata of %s failed; treated as none", name or "an image")
        return interop.ImageInfo()
    _report(name, problems)
    return info


def _parameters_only(
    data: bytes, png_walk: tuple[list[tuple[str, str]], list[bytes]], problems: list[str]
) -> interop.ImageInfo | None:
    """read_info's result for a PNG whose one text is an A1111 infotext in `parameters` (nothing else to read, nothing
    damaged, no sidecar), by the shortest way; None for any other file, which read_info reads the general way."""
    texts, exif_blocks = png_walk
    if problems or exif_blocks or len(texts) != 1 or texts[0][0] != PARAMETERS_KEYWORD:
        return None
    info = interop.from_parameters(texts[0][1])
    if info is not None and (info.width is None or info.height is None) and (header := image_header(data)):
        info.width, info.height = header[1], header[2]
    return info


def _report(name: str, problems: list[str]) -> None:
    if problems:
        log.warning("%s: %s; read as having no metadata there", name or "an image", "; ".join(problems[:5]))
