"""Interop both ways: other tools' readers find the prompt and parameters in the files Atelier writes (through the
library's real writer), and Atelier reads the files A1111, ComfyUI, InvokeAI and Fooocus write."""

import hashlib
import json
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services import exif, infotext, interop, metadata
from services.imaging import check_image
from services.types import GenerationRequest, ReceivedImage
from tests import foreign_files as ff
from tests import interop_readers as readers
from tests.helpers import jpeg, png

PROMPT = 'a lighthouse, at dusk: "warm" light\n  second line, with: colons'


def write(library, prompt=PROMPT, data=None, seed=42, aspect_ratio="16:9"):
    """An image saved by the library's own writer; returns the file's bytes."""
    data = data or png("x")
    mime, width, height = check_image(data)
    request = GenerationRequest(prompt, "gemini-3.1-flash-image", aspect_ratio=aspect_ratio, seed=seed)
    gid = library.begin(request, endpoint="test", protocol="generateContent")
    saved = library.save_image(gid, 0, ReceivedImage(data, mime, width, height), request=request, endpoint="test")
    library.finish(gid, status="ok")
    return Path(saved.path).read_bytes(), gid


def stripped_lines(text):
    return "\n".join(line.strip() for line in text.strip().split("\n"))


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_a1111_and_infinite_image_browsing_read_atelier_files(library, kind):
    data, gid = write(library, data=png("x") if kind == "png" else jpeg("x"))
    found = readers.infinite_image_browsing(data)  # A1111's read_info_from_image + parse_generation_parameters
    assert found["Prompt"] == stripped_lines(PROMPT)  # A1111 strips each line; the words and order survive
    assert found["Negative prompt"] == ""
    assert (found["Size-1"], found["Size-2"]) == ("64", "48")
    assert found["Seed"] == "42" and found["Model"] == "gemini-3.1-flash-image"
    assert found["Aspect ratio"] == "16:9" and found["Generation"] == gid


@pytest.mark.parametrize("kind", ["png", "jpeg"])
def test_diffusion_toolkit_reads_atelier_files(library, kind):
    data, _ = write(library, data=png("x") if kind == "png" else jpeg("x"))
    found = readers.diffusion_toolkit(data)
    assert found["format"] == "A1111"  # not mistaken for ComfyUI: Atelier writes no `prompt` chunk
    assert found["prompt"] == PROMPT
    assert (found["width"], found["height"], found["seed"]) == (64, 48, 42)
    assert found["steps"] == metadata.STEPS and found["model"] == "gemini-3.1-flash-image"


def test_atelier_png_has_no_json_prompt_chunk_and_a_non_latin_prompt_goes_in_itxt(library):
    data, _ = write(library, prompt="夕暮れの灯台 — «phare»")
    texts = readers.pil_png_info(data)
    assert "prompt" not in texts and set(texts) == {"parameters", "atelier"}
    assert readers.a1111_parse_generation_parameters(texts["parameters"])["Prompt"] == "夕暮れの灯台 — «phare»"
    assert b"iTXtparameters\0" in data


def test_atelier_jpeg_exif_is_the_one_readers_take_and_keeps_the_original_orientation(library):
    original = ff.jpeg_with_app1(b"Exif\0\0" + ff.tiff({exif.ORIENTATION: (3, b"\0\x06")}, {}), jpeg("x"))
    data, gid = write(library, data=original)
    first = readers.pil_jpeg_info(data)["exif"]
    assert readers.piexif_user_comment(first).startswith(b"UNICODE\0")  # A1111's charset header, UTF-16BE after
    assert exif.parse(first).orientation == 6
    assert metadata.read_embedded(data)["generation_id"] == gid
    assert check_image(data)[1:] == (64, 48)


def test_a_long_prompt_still_fits_a_jpeg_and_round_trips_whole(library):
    prompt = "a very long prompt " * 6000  # 114,000 characters: over one EXIF segment and one comment
    data, gid = write(library, prompt=prompt, data=jpeg("x"))
    assert library.thumbnail_path(hashlib.sha256(data).hexdigest()).is_file()  # Qt decodes it as before
    record = metadata.read_embedded(data)
    assert record["generation_id"] == gid and record["request"]["prompt"] == prompt
    shown = readers.infinite_image_browsing(data)
    assert shown["Prompt"].endswith("…") and prompt.startswith(shown["Prompt"][:-1].strip())
    assert shown["Seed"] == "42"  # the parameters line is kept whole; only the prompt is shortened
    assert metadata.read_info(data).prompt == prompt


def test_atelier_files_read_back_as_atelier(library):
    for data in (write(library)[0], write(library, data=jpeg("x"))[0]):
        info = metadata.read_info(data)
        assert (info.source, info.prompt, info.seed, info.width, info.height) == ("atelier", PROMPT, 42, 64, 48)
        assert info.model == "gemini-3.1-flash-image" and info.parameters["Aspect ratio"] == "16:9"


# --- reading other tools' files ----------------------------------------------------------------------------------


def test_a1111_png():
    info = metadata.read_info(ff.a1111_png())
    assert info.source == "a1111"
    assert info.prompt == "a castle, on a hill\nsecond line" and info.negative_prompt == "blurry, lowres"
    assert (info.seed, info.steps, info.cfg, info.sampler) == (1234567890, 28, 6.5, "DPM++ 2M")
    assert (info.width, info.height, info.model) == (832, 1216, "sd_xl_base_1.0")
    assert info.parameters["Lora hashes"] == "detail: 0a1b2c, style: 9f8e7d"  # a JSON-quoted value, unquoted


def test_a1111_png_in_compressed_chunks():
    text = ff.a1111_infotext("zébra", "", ff.A1111_PARAMS)
    for chunk in (ff.ztxt_chunk("parameters", text), ff.itxt_chunk("parameters", text, compressed=True)):
        info = metadata.read_info(ff.png_with([chunk]))
        assert (info.source, info.prompt, info.seed) == ("a1111", "zébra", 1234567890)


@pytest.mark.parametrize(
    "little, encoding",
    [(False, "utf-16-be"), (True, "utf-16-le"), (True, "utf-16-be"), (False, "utf-16-le")],
    ids=["piexif", "exiftool-le", "le-tiff-be-text", "be-tiff-le-text"],
)
def test_a1111_jpeg_user_comment_in_either_utf16_order(little, encoding):
    info = metadata.read_info(ff.a1111_jpeg(prompt="a castle, on a hill", little=little, encoding=encoding))
    assert (info.source, info.prompt, info.negative_prompt, info.seed) == (
        "a1111",
        "a castle, on a hill",
        "blurry",
        1234567890,
    )


@pytest.mark.parametrize("bom", [b"\xfe\xff", b"\xff\xfe"])
def test_user_comment_with_a_byte_order_mark(bom):
    text = "夕焼け, Steps: 3"  # no zero bytes to guess from: the mark decides
    body = text.encode("utf-16-be" if bom == b"\xfe\xff" else "utf-16-le")
    assert exif.decode_user_comment(b"UNICODE\0" + bom + body) == text


def test_user_comment_headers():
    assert exif.decode_user_comment(b"ASCII\0\0\0Steps: 1\0") == "Steps: 1"
    assert exif.decode_user_comment("JIS\0\0\0\0\0灯台".encode("shift_jis")) == "灯台"
    assert exif.decode_user_comment(b"\0" * 8 + "é".encode()) == "é"
    assert exif.decode_user_comment(b'{"prompt": "x"}') == '{"prompt": "x"}'  # no header (Fooocus via PIL)
    assert exif.decode_user_comment(b"UNICODE\0" + "CJK 夕".encode("utf-16-le"), little_endian_hint=True) == "CJK 夕"


def test_comfyui_png_follows_links_through_other_nodes():
    info = metadata.read_info(ff.comfyui_png())
    assert info.source == "comfyui"
    assert info.prompt == "a red fox in snow\ngolden hour"  # via ConditioningCombine and a PrimitiveString
    assert info.negative_prompt == "text, watermark"
    assert (info.model, info.seed, info.steps, info.cfg) == ("juggernautXL_v9.safetensors", 987654321, 30, 5.5)
    assert (info.width, info.height, info.sampler) == (1024, 768, "dpmpp_2m")
    assert json.loads(info.raw)["3"]["class_type"] == "KSampler"


def test_comfyui_webp_exif_strings():
    info = metadata.read_info(ff.comfyui_webp())
    assert (info.source, info.prompt, info.negative_prompt) == (
        "comfyui",
        "a red fox in snow\ngolden hour",
        "text, watermark",
    )


def test_comfyui_odd_graphs_are_read_as_far_as_they_go():
    graph = ff.comfyui_graph()
    graph["14"]["inputs"]["conditioning_2"] = ["3", 0]  # a cycle back to the sampler
    graph["7"]["inputs"]["text"] = ["99", 0]  # a link to a node that is not there
    graph["50"] = "not a node"
    graph["51"] = {"class_type": "Custom", "inputs": [1, 2]}
    info = metadata.read_info(ff.comfyui_png(graph))
    assert (info.source, info.prompt, info.negative_prompt) == ("comfyui", "a red fox in snow", "")
    chain = {str(i): {"class_type": "Reroute", "inputs": {"input": [str(i + 1), 0]}} for i in range(100, 20_100)}
    chain["20100"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "far away"}}
    chain["1"] = {"class_type": "KSampler", "inputs": {"positive": ["100", 0], "seed": "12"}}
    info = metadata.read_info(ff.comfyui_png(chain))
    assert info.source == "comfyui" and info.prompt == "" and info.seed == 12  # past the step budget: not read


def test_invokeai_and_fooocus():
    info = metadata.read_info(ff.invokeai_png())
    assert (info.source, info.prompt, info.negative_prompt) == ("invokeai", "an astronaut riding a horse", "cartoon")
    assert (info.model, info.seed, info.width, info.steps, info.cfg) == (
        "stable-diffusion-xl-base-1-0",
        2024,
        1024,
        25,
        7.5,
    )
    info = metadata.read_info(ff.fooocus_png())
    assert (info.source, info.prompt, info.negative_prompt, info.seed) == (
        "fooocus",
        "a lighthouse",
        "unrealistic",
        123456,
    )
    assert (info.width, info.height, info.model) == (1152, 896, "juggernautXL_v8Rundiffusion.safetensors")
    assert readers.diffusion_toolkit(ff.comfyui_png()) == {"format": "ComfyUI"}  # the reader model is honest


def test_a_plain_image_is_unknown_with_its_size():
    info = metadata.read_info(png("plain"))
    assert (info.source, info.prompt, info.width, info.height) == ("unknown", "", 64, 48)


# --- the infotext grammar ----------------------------------------------------------------------------------------

A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


@given(st.text(alphabet=st.sampled_from(list('ab _-/:,"\\ \t é1\r')), max_size=40))
def test_param_pairs_is_a1111s_regex(line):
    assert infotext.param_pairs_linear(line) == A1111_PARAM.findall(line)  # the scan used on long runs
    assert infotext.param_pairs(line) == A1111_PARAM.findall(line)


@given(st.text(alphabet=st.sampled_from(list('ab _-/:,"\\ \t1')), min_size=100, max_size=400))
def test_param_pairs_of_long_lines_either_way_is_a1111s(line):
    """Lines past the regex's safe run take the linear scan; both give what A1111's regex gives."""
    assert infotext.param_pairs(line) == infotext.param_pairs_linear(line) == A1111_PARAM.findall(line)


@given(st.text(max_size=60))
def test_parse_infotext_agrees_with_a1111(text):
    prompt, negative, params = infotext.parse_infotext(text)
    theirs = readers.a1111_parse_generation_parameters(text)
    assert (prompt, negative) == (theirs["Prompt"], theirs["Negative prompt"])
    for key, value in params.items():
        size = re.match(r"^(\d+)x(\d+)$", value)
        assert (theirs[f"{key}-1"], theirs[f"{key}-2"]) == size.groups() if size else theirs[key] == value


@pytest.mark.timeout(60)  # A1111's regex would take hours here
def test_a_hostile_parameters_line_is_parsed_in_linear_time():
    line = "ab" + " word" * 400_000 + ": x"  # 2 MB; A1111's regex rescans each start: quadratic
    assert infotext.param_pairs(line)[0][1] == "x"
    assert infotext.param_pairs("a:" + "b" * 2_000_000) == []
    assert infotext.parse_infotext("line\n" * 1_000_000)[0].count("\n") == 999_999  # joined once, not re-copied
    wide = {
        str(i): {"class_type": "T", "inputs": {k: f"{k}{i}" for k in ("text", "text_g", "text_l", "string")}}
        for i in range(5000)
    }
    wide["0"] = {"class_type": "KSampler", "inputs": {"positive": ["1", 0]}}
    for i in range(1, 4999):
        wide[str(i)]["inputs"]["next"] = [str(i + 1), 0]
    assert interop.from_texts({"prompt": json.dumps(wide)}).prompt.count("\n") == 4 * 2000 - 1  # 2000 nodes: the budget
