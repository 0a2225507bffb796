"""Reading a generateContent conversation as Google does: the newest user turn is the instruction, earlier model
turns must come back with their thought signatures intact, and the last picture the model made is what an edit
starts from.

A signature is an HMAC, under a secret of this emulator, of the part it was given to (its text, or its image's
type and bytes): a part that comes back without it, with another one, or changed under it is refused with Google's
own messages (gemini-api.md, "Conversations").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field

from services.emulator.faults import invalid
from services.emulator.sizes import TOKENS_PER_INPUT_IMAGE, decode_b64, text_tokens
from services.imaging import ImageFormatError, dimensions, sniff_mime

SIGNATURE_VERSION = b"\x01"


class Signer:
    def __init__(self, secret: bytes):
        self._secret = secret

    def _mac(self, part: dict) -> bytes | None:
        thought = b"1" if part.get("thought") is True else b"0"
        inline = part.get("inlineData") or part.get("inline_data")
        if isinstance(inline, dict):
            data = decode_b64(inline.get("data"))
            if data is None:
                return None
            mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
            content = b"I" + thought + mime.encode() + b"\0" + hashlib.sha256(data).digest()
        elif isinstance(part.get("text"), str):
            content = b"T" + thought + part["text"].encode("utf-8")
        else:
            return None
        return hmac.new(self._secret, content, hashlib.sha256).digest()

    def sign(self, part: dict) -> dict:
        """The part with its thoughtSignature."""
        return {**part, "thoughtSignature": base64.b64encode(SIGNATURE_VERSION + self._mac(part)).decode("ascii")}

    def verify(self, part: dict, signature) -> bool:
        given = decode_b64(signature)
        expected = self._mac(part)
        if not given or expected is None:
            return False
        return hmac.compare_digest(given, SIGNATURE_VERSION + expected)


@dataclass
class Image:
    mime: str
    data: bytes
    width: int | None = None
    height: int | None = None


@dataclass
class Conversation:
    prompt: str  # the newest user turn's words
    references: list[Image] = field(default_factory=list)  # the newest user turn's images
    parent: Image | None = None  # the last picture the model made in this conversation
    prompt_text_tokens: int = 0
    prompt_image_tokens: int = 0
    turns: int = 0

    @property
    def prompt_tokens(self) -> int:
        return self.prompt_text_tokens + self.prompt_image_tokens


def _image(part: dict, where: str) -> Image:
    inline = part.get("inlineData") or part.get("inline_data") or {}
    data = decode_b64(inline.get("data"))
    mime = str(inline.get("mimeType") or inline.get("mime_type") or "")
    if not data:
        raise invalid(f"Unable to process input image {where}: the data is not valid base64.")
    found = sniff_mime(data)
    if found is None:
        raise invalid(
            "Unable to process input image. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting"
        )
    try:
        width, height = dimensions(data, found)
    except ImageFormatError:
        width = height = None  # HEIC/HEIF: accepted, shape unknown
    return Image(mime or found, data, width, height)


def read(contents, signer: Signer, *, strict: bool = True) -> Conversation:
    """strict: as generateContent reads it (signatures checked, the last turn the user's); countTokens is lenient."""
    if not isinstance(contents, list) or not contents:
        raise invalid("* GenerateContentRequest.contents: contents is not specified\n")
    conversation = Conversation(prompt="")
    last_model_image: Image | None = None
    for c_index, content in enumerate(contents, start=1):
        if not isinstance(content, dict):
            raise invalid(f"Invalid value at 'contents[{c_index - 1}]': not a Content object.")
        role = content.get("role") or "user"
        if role not in ("user", "model"):
            raise invalid("Please use a valid role: user, model.")
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            raise invalid(
                f"* GenerateContentRequest.contents[{c_index - 1}].parts: contents.parts must not be empty.\n"
            )
        newest = c_index == len(contents)
        if newest and role != "user" and strict:
            raise invalid("Please ensure that multiturn requests ends with a user role or a function response.")
        texts = []
        images = []
        for p_index, part in enumerate(parts, start=1):
            if not isinstance(part, dict):
                raise invalid(f"Invalid value at 'contents[{c_index - 1}].parts[{p_index - 1}]'.")
            is_image = bool(part.get("inlineData") or part.get("inline_data"))
            if role == "model" and strict:
                _check_signature(part, is_image, signer, c_index, p_index)
            if is_image:
                image = _image(part, f"in content position {c_index}, part position {p_index}")
                conversation.prompt_image_tokens += TOKENS_PER_INPUT_IMAGE
                if role == "model" and part.get("thought") is not True:
                    last_model_image = image
                images.append(image)
            elif isinstance(part.get("text"), str):
                conversation.prompt_text_tokens += text_tokens(part["text"])
                texts.append(part["text"])
        if newest:
            conversation.prompt = " ".join(t.strip() for t in texts if t.strip())
            conversation.references = images
            conversation.parent = last_model_image
        conversation.turns += role == "user"
    return conversation


def _check_signature(part: dict, is_image: bool, signer: Signer, c_index: int, p_index: int) -> None:
    signature = part.get("thoughtSignature") or part.get("thought_signature")
    if signature is None:
        if part.get("thought") is True and not is_image:
            return  # thought summaries carry no signature
        kind = "Image" if is_image else "Text"
        raise invalid(
            f"{kind} part is missing a thought_signature in content position {c_index}, part position {p_index}."
        )
    if not signer.verify(part, signature):
        raise invalid("Corrupted thought signature.")
