"""Other tools' readers, written to their documented behaviour (see the project's interop notes), with no service
code: what they would find in a file is what these find.

- A1111's PNG Info (`read_info_from_image` + `parse_generation_parameters`), which Infinite Image Browsing copies:
  PIL's `info` (PNG text chunks, last wins; JPEG's first EXIF APP1 and last COM), piexif's UserComment.load.
- Diffusion Toolkit: `parameters` (or EXIF UserComment), parameters only from a line starting with `Steps:`, split
  naively on `,` and `:`, numbers parsed strictly (as .NET's int.Parse would, failing on anything else); any
  `prompt` text chunk starting with `{` makes the file a ComfyUI file.
"""

from __future__ import annotations

import json
import re
import struct
import zlib

# --- what PIL puts in Image.info ---------------------------------------------------------------------------------


def pil_png_info(data: bytes) -> dict[str, str]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    info: dict[str, str] = {}
    i = 8
    while i + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[i : i + 8])
        body = data[i + 8 : i + 8 + length]
        crc = struct.unpack(">I", data[i + 8 + length : i + 12 + length])[0]
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, f"PIL refuses a broken {kind!r} chunk"
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            info[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, value = body.split(b"\0", 1)
            info[key.decode("latin-1")] = zlib.decompress(value[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            flag, rest = rest[0], rest[2:]
            _lang, _tkey, value = rest.split(b"\0", 2)
            info[key.decode("latin-1")] = (zlib.decompress(value) if flag else value).decode("utf-8")
        elif kind == b"IEND":
            break
        i += 12 + length
    return info


def pil_jpeg_info(data: bytes) -> dict[str, bytes]:
    """`exif`: the first APP1 starting `Exif\\0\\0` (PIL keeps the first); `comment`: the last COM."""
    info: dict[str, bytes] = {}
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        body = data[i + 4 : i + 2 + length]
        if marker == 0xE1 and body.startswith(b"Exif\0\0") and "exif" not in info:
            info["exif"] = body
        elif marker == 0xFE:
            info["comment"] = body
        elif marker == 0xDA:
            break
        i += 2 + length
    return info


def piexif_user_comment(exif: bytes) -> bytes:
    """piexif.load(exif)["Exif"][0x9286], or b"" (a stand-in for piexif, which reads the TIFF the same way)."""
    tiff = exif[6:]
    order = "<" if tiff[:2] == b"II" else ">"
    ifd0 = struct.unpack(order + "I", tiff[4:8])[0]

    def entries(offset):
        count = struct.unpack(order + "H", tiff[offset : offset + 2])[0]
        for k in range(count):
            e = offset + 2 + 12 * k
            tag, kind, n = struct.unpack(order + "HHI", tiff[e : e + 8])
            yield tag, kind, n, tiff[e + 8 : e + 12]

    for tag, _kind, _n, value in entries(ifd0):
        if tag == 0x8769:
            for tag2, kind2, n2, value2 in entries(struct.unpack(order + "I", value)[0]):
                if tag2 == 0x9286 and kind2 == 7:
                    if n2 <= 4:
                        return value2[:n2]
                    start = struct.unpack(order + "I", value2)[0]
                    return tiff[start : start + n2]
    return b""


def piexif_user_comment_load(data: bytes) -> str:
    """piexif.helper.UserComment.load: raises ValueError on an unknown header, as piexif does."""
    if len(data) < 8:
        raise ValueError("not enough data")
    encodings = {b"ASCII\0\0\0": "ascii", b"JIS\0\0\0\0\0": "shift_jis", b"UNICODE\0": "utf_16_be"}
    if data[:8] not in encodings:
        raise ValueError("unknown prefix")
    return data[8:].decode(encodings[data[:8]], errors="replace")


# --- Automatic1111 (modules/infotext_utils.py, modules/images.py) ------------------------------------------------

re_param = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
re_imagesize = re.compile(r"^(\d+)x(\d+)$")


def a1111_read_info_from_image(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG"):
        return pil_png_info(data).get("parameters")
    info = pil_jpeg_info(data)
    if "exif" in info:
        raw = piexif_user_comment(info["exif"])
        try:
            comment = piexif_user_comment_load(raw)
        except ValueError:
            comment = raw.decode("utf8", errors="ignore")
        return comment or None
    if "comment" in info:
        return info["comment"].decode("utf8", errors="ignore")
    return None


def unquote(text):
    if len(text) == 0 or text[0] != '"' or text[-1] != '"':
        return text
    try:
        return json.loads(text)
    except Exception:
        return text


def a1111_parse_generation_parameters(x: str) -> dict:
    res = {}
    prompt = ""
    negative_prompt = ""
    done_with_prompt = False
    *lines, lastline = x.strip().split("\n")
    if len(re_param.findall(lastline)) < 3:
        lines.append(lastline)
        lastline = ""
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        if done_with_prompt:
            negative_prompt += ("" if negative_prompt == "" else "\n") + line
        else:
            prompt += ("" if prompt == "" else "\n") + line
    res["Prompt"] = prompt
    res["Negative prompt"] = negative_prompt
    for k, v in re_param.findall(lastline):
        try:
            if v[0] == '"' and v[-1] == '"':
                v = unquote(v)
            m = re_imagesize.match(v)
            if m is not None:
                res[f"{k}-1"] = m.group(1)
                res[f"{k}-2"] = m.group(2)
            else:
                res[k] = v
        except Exception:
            pass
    return res


def infinite_image_browsing(data: bytes) -> dict | None:
    """IIB: A1111's read_info_from_image, then its copy of A1111's parser."""
    text = a1111_read_info_from_image(data)
    return None if text is None else a1111_parse_generation_parameters(text)


# --- Diffusion Toolkit -------------------------------------------------------------------------------------------


def diffusion_toolkit(data: bytes) -> dict:
    """What Diffusion Toolkit indexes: raises (as its int.Parse would) on a known key with a malformed value."""
    if data.startswith(b"\x89PNG"):
        info = pil_png_info(data)
        if info.get("prompt", "").startswith("{"):
            return {"format": "ComfyUI"}
        text = info.get("parameters")
    else:
        exif = pil_jpeg_info(data).get("exif")
        text = piexif_user_comment_load(piexif_user_comment(exif)) if exif else None
    if text is None:
        return {"format": None}
    found: dict = {"format": "A1111", "prompt": "", "negative": ""}
    in_negative = False
    for line in text.split("\n"):
        if line.startswith("Steps: "):
            for pair in line.split(","):
                parts = pair.split(":")
                key = parts[0].strip()
                if key == "Steps":
                    found["steps"] = int(parts[1].strip())
                elif key == "Seed":
                    found["seed"] = int(parts[1].strip())
                elif key == "CFG scale":
                    found["cfg"] = float(parts[1].strip())
                elif key == "Size":
                    width, height = parts[1].strip().split("x")
                    found["width"], found["height"] = int(width), int(height)
                elif key == "Model":
                    found["model"] = parts[1].strip()
            continue
        if line.startswith("Negative prompt: "):
            in_negative = True
            line = line[len("Negative prompt: ") :]
        key = "negative" if in_negative else "prompt"
        found[key] = (found[key] + "\n" + line) if found[key] else line
    return found
