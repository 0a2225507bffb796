"""Image files made the way other tools make them, with writers of our own (no service code), for the tests.

A1111 writes `parameters` with PIL's add_text (tEXt, or iTXt when the text is not Latin-1) and, in JPEG and WebP,
EXIF UserComment through piexif (big-endian TIFF, `UNICODE\\0` + UTF-16BE). ComfyUI writes `prompt` and `workflow`
tEXt chunks, and in WebP EXIF IFD0 strings `prompt:{...}` (Model) and `workflow:{...}` (Make). InvokeAI writes
`invokeai_metadata`; Fooocus a JSON `parameters` beside `fooocus_scheme`.
"""

from __future__ import annotations

import json
import struct
import zlib

from tests.helpers import PAINTER

# --- PNG ---------------------------------------------------------------------------------------------------------


def chunk(kind: bytes, body: bytes, crc: int | None = None, length: int | None = None) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(body) if length is None else length) + kind + body + struct.pack(">I", crc)


def text_chunk(key: str, value: str) -> bytes:
    """PIL's add_text: tEXt when the value is Latin-1, else an uncompressed iTXt."""
    try:
        return chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return itxt_chunk(key, value)


def ztxt_chunk(key: str, value: str) -> bytes:
    return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode("latin-1")))


def itxt_chunk(key: str, value: str, compressed: bool = False) -> bytes:
    text = zlib.compress(value.encode("utf-8")) if compressed else value.encode("utf-8")
    return chunk(b"iTXt", key.encode("latin-1") + b"\0" + bytes([int(compressed), 0]) + b"en\0\0" + text)


def png_with(chunks: list[bytes], base: bytes | None = None) -> bytes:
    """A small real PNG with `chunks` right after IHDR, where PIL puts its text chunks."""
    base = base or PAINTER.png("foreign", 24, 16)
    ihdr_end = 8 + 8 + 13 + 4
    return base[:ihdr_end] + b"".join(chunks) + base[ihdr_end:]


# --- EXIF (piexif's layout: big-endian unless asked) --------------------------------------------------------------


def tiff(ifd0: dict[int, tuple[int, bytes]], exif_ifd: dict[int, tuple[int, bytes]], little: bool = False) -> bytes:
    """A TIFF structure: IFD0 entries, then (if any) an Exif IFD linked by tag 0x8769. Values as (type, bytes)."""
    order = "<" if little else ">"
    ifd0 = dict(ifd0)
    if exif_ifd:
        ifd0[0x8769] = (4, b"")  # offset filled below

    def layout(entries: dict[int, tuple[int, bytes]], at: int) -> tuple[bytes, int]:
        header_size = 2 + 12 * len(entries) + 4
        data_at = at + header_size
        body = struct.pack(order + "H", len(entries))
        extra = b""
        for tag in sorted(entries):
            kind, value = entries[tag]
            count = len(value) // {3: 2, 4: 4}.get(kind, 1)
            if len(value) <= 4:
                body += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\0")
            else:
                body += struct.pack(order + "HHII", tag, kind, count, data_at + len(extra))
                extra += value + b"\0" * (len(value) % 2)
        return body + b"\0\0\0\0" + extra, at + len(body) + 4 + len(extra)

    if exif_ifd:
        first, after = layout({**ifd0, 0x8769: (4, b"\0\0\0\0")}, 8)
        exif_block, _ = layout(exif_ifd, after)
        ifd0[0x8769] = (4, struct.pack(order + "I", after))
        first, _ = layout(ifd0, 8)
        data_parts = [first, exif_block]
    else:
        data_parts = [layout(ifd0, 8)[0]]
    head = (b"II*\0" if little else b"MM\0*") + struct.pack(order + "I", 8)
    return head + b"".join(data_parts)


def user_comment(text: str, encoding: str = "utf-16-be", bom: bool = False) -> bytes:
    body = text.encode(encoding)
    if bom:
        body = (b"\xfe\xff" if encoding == "utf-16-be" else b"\xff\xfe") + body
    return b"UNICODE\0" + body


def a1111_exif(infotext: str, little: bool = False, encoding: str = "utf-16-be") -> bytes:
    return b"Exif\0\0" + tiff({}, {0x9286: (7, user_comment(infotext, encoding))}, little)


def jpeg_with_app1(app1_body: bytes, base: bytes | None = None) -> bytes:
    """A JPEG with an APP1 segment right after SOI (where PIL and piexif put EXIF)."""
    base = base or PAINTER.png("foreign", 24, 16, fmt="JPEG")
    return base[:2] + b"\xff\xe1" + struct.pack(">H", len(app1_body) + 2) + app1_body + base[2:]


def webp_with_exif(exif_body: bytes, base: bytes | None = None) -> bytes:
    """An extended WebP (VP8X with the EXIF flag) holding `exif_body` (a TIFF, no `Exif` header) in an EXIF chunk."""
    base = base or PAINTER.png("foreign", 24, 16, fmt="WEBP")
    from services.imaging import dimensions

    width, height = dimensions(base, "image/webp")
    image_chunks = base[12:]
    vp8x = b"\x08\0\0\0" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    exif_chunk = b"EXIF" + struct.pack("<I", len(exif_body)) + exif_body + b"\0" * (len(exif_body) % 2)
    body = b"WEBP" + b"VP8X" + struct.pack("<I", 10) + vp8x + image_chunks + exif_chunk
    return b"RIFF" + struct.pack("<I", len(body)) + body


# --- each tool's files -------------------------------------------------------------------------------------------


def a1111_quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ",:\n") else text


def a1111_infotext(prompt: str, negative: str, params: dict[str, str]) -> str:
    """modules/processing.py create_infotext."""
    line = ", ".join(k if k == v else f"{k}: {a1111_quote(str(v))}" for k, v in params.items() if v is not None)
    negative_text = f"\nNegative prompt: {negative}" if negative else ""
    return f"{prompt}{negative_text}\n{line}".strip()


A1111_PARAMS = {
    "Steps": "28",
    "Sampler": "DPM++ 2M",
    "Schedule type": "Karras",
    "CFG scale": "6.5",
    "Seed": "1234567890",
    "Size": "832x1216",
    "Model hash": "31e35c80fc",
    "Model": "sd_xl_base_1.0",
    "Lora hashes": "detail: 0a1b2c, style: 9f8e7d",
    "Version": "v1.10.1",
}


def a1111_png(prompt="a castle, on a hill\nsecond line", negative="blurry, lowres", params=None) -> bytes:
    return png_with([text_chunk("parameters", a1111_infotext(prompt, negative, params or A1111_PARAMS))])


def a1111_jpeg(prompt="a castle, on a hill", negative="blurry", params=None, little=False, encoding="utf-16-be"):
    text = a1111_infotext(prompt, negative, params or A1111_PARAMS)
    return jpeg_with_app1(a1111_exif(text, little, encoding))


def comfyui_graph(positive="a red fox in snow", negative="text, watermark") -> dict:
    """An API graph whose positive prompt reaches the sampler through ConditioningCombine and a text node."""
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "juggernautXL_v9.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 1024, "height": 768, "batch_size": 1}},
        "12": {"class_type": "PrimitiveString", "inputs": {"value": positive}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": ["12", 0], "clip": ["10", 1]}},
        "13": {"class_type": "CLIPTextEncode", "inputs": {"text": "golden hour", "clip": ["10", 1]}},
        "14": {
            "class_type": "ConditioningCombine",
            "inputs": {"conditioning_1": ["6", 0], "conditioning_2": ["13", 0]},
        },
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["10", 1]}},
        "10": {
            "class_type": "LoraLoader",
            "inputs": {"model": ["4", 0], "clip": ["4", 1], "lora_name": "x.safetensors"},
        },
        "20": {"class_type": "Seed (rgthree)", "inputs": {"seed": 987654321}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": ["20", 0],
                "steps": 30,
                "cfg": 5.5,
                "sampler_name": "dpmpp_2m",
                "scheduler": "karras",
                "denoise": 1.0,
                "model": ["10", 0],
                "positive": ["14", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


COMFYUI_WORKFLOW = {"last_node_id": 20, "nodes": [{"id": 3, "type": "KSampler", "widgets_values": [1, "fixed"]}]}


def comfyui_png(graph: dict | None = None) -> bytes:
    graph = comfyui_graph() if graph is None else graph
    return png_with([text_chunk("prompt", json.dumps(graph)), text_chunk("workflow", json.dumps(COMFYUI_WORKFLOW))])


def comfyui_webp(graph: dict | None = None) -> bytes:
    """SaveAnimatedWEBP: IFD0 Model (0x0110) = `prompt:{...}`, Make (0x010F) = `workflow:{...}`, little-endian."""
    graph = comfyui_graph() if graph is None else graph
    ifd0 = {
        0x0110: (2, b"prompt:" + json.dumps(graph).encode() + b"\0"),
        0x010F: (2, b"workflow:" + json.dumps(COMFYUI_WORKFLOW).encode() + b"\0"),
    }
    return webp_with_exif(tiff(ifd0, {}, little=True))


INVOKEAI_METADATA = {
    "generation_mode": "txt2img",
    "positive_prompt": "an astronaut riding a horse",
    "negative_prompt": "cartoon",
    "model": {"name": "stable-diffusion-xl-base-1-0", "base": "sdxl", "type": "main"},
    "seed": 2024,
    "width": 1024,
    "height": 1024,
    "steps": 25,
    "cfg_scale": 7.5,
    "scheduler": "euler_a",
}


def invokeai_png(meta: dict | None = None) -> bytes:
    chunks = [itxt_chunk("invokeai_metadata", json.dumps(meta or INVOKEAI_METADATA))]
    return png_with(chunks + [text_chunk("invokeai_graph", json.dumps({"id": "graph", "nodes": {}}))])


FOOOCUS_METADATA = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "full_prompt": ["a lighthouse, cinematic"],
    "guidance_scale": 4,
    "negative_prompt": "unrealistic",
    "performance": "Speed",
    "prompt": "a lighthouse",
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "123456",
    "steps": 30,
    "styles": "['Fooocus V2']",
    "version": "Fooocus v2.5.5",
}


def fooocus_png(meta: dict | None = None) -> bytes:
    return png_with(
        [text_chunk("parameters", json.dumps(meta or FOOOCUS_METADATA)), text_chunk("fooocus_scheme", "fooocus")]
    )
