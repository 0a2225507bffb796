"""A list of prompts for a batch: plain text, CSV or JSONL, read and checked before anything is sent.

- Text: one prompt per line; blank lines and lines starting with `#` are skipped.
- CSV: a header row with a `prompt` column; optional `model`, `count`, `aspect_ratio`, `size` columns.
- JSONL: one object per line with `prompt` and the same optional fields.
Inline alternatives `{red|blue|green} fox` expand to every combination (three prompts here). Every row is checked
with services.generation.validate against the catalog; a bad row is named by its line number and nothing is sent.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from services import pricing
from services.catalog import DEFAULT_MODEL, Catalog, ModelInfo
from services.errors import InputError
from services.generation import validate
from services.types import GenerationRequest

MAX_REQUESTS = 50_000  # one list; Google's batch files top out at 2 GB of input anyway
MAX_EXPANSIONS = 1_000  # combinations from one line's {a|b} groups
MAX_ERRORS_SHOWN = 20
ALTERNATIVES = re.compile(r"\{([^{}]*\|[^{}]*)\}")
FIELDS = ("prompt", "model", "count", "aspect_ratio", "size")


@dataclass(frozen=True)
class PromptRow:
    line: int  # 1-based line in the source where the row starts
    request: GenerationRequest


@dataclass
class PromptList:
    rows: list[PromptRow] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # "line N: sentence"

    @property
    def requests(self) -> int:
        """API calls: Gemini image models make one image per call."""
        return sum(r.request.count for r in self.rows)

    @property
    def images_expected(self) -> int:
        return sum(r.request.count for r in self.rows)

    def models(self) -> list[str]:
        return list(dict.fromkeys(r.request.model for r in self.rows))

    def estimated_cost(self, batch: bool = True) -> float | None:
        """USD as services/pricing estimates it, at the batch price unless `batch` is False (None when some model's
        price is unknown)."""
        total = 0.0
        for row in self.rows:
            r = row.request
            cost = pricing.estimate_job(r.model, r.count, r.size, len(r.references), batch=batch)
            if cost is None:
                return None
            total += cost
        return round(total, 6)

    def raise_for_errors(self) -> None:
        if not self.errors:
            return
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(shown)
        text = "; ".join(shown) + (f"; and {more} more" if more else "")
        raise InputError(f"The prompt list has {len(self.errors)} bad row(s), so nothing was sent: {text}.")


def expand(prompt: str) -> list[str]:
    """`{red|blue} fox on {snow|sand}` -> four prompts, in reading order. Braces without `|` stay as they are."""
    groups = ALTERNATIVES.findall(prompt)
    if not groups:
        return [prompt]
    choices = [[c.strip() for c in g.split("|")] for g in groups]
    total = 1
    for c in choices:
        total *= len(c)
    if total > MAX_EXPANSIONS:
        raise InputError(f"its alternatives make {total:,} prompts; one line may make at most {MAX_EXPANSIONS:,}")
    pieces = ALTERNATIVES.split(prompt)  # text, group, text, group, ..., text
    texts = pieces[0::2]
    out = []
    for combo in itertools.product(*choices):
        joined = texts[0] + "".join(choice + rest for choice, rest in zip(combo, texts[1:], strict=True))
        out.append(" ".join(joined.split()))
    return out


def detect_format(text: str, name: str | None) -> str:
    suffix = Path(name or "").suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    if suffix in (".txt", ".text", ".md"):
        return "text"
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    if first.startswith("{"):
        return "jsonl"
    header = [c.strip().lower() for c in first.split(",")]
    if "prompt" in header and len(header) > 1:
        return "csv"
    return "text"


def read_source(path: str, stdin: io.BufferedIOBase | None = None) -> tuple[str, str | None]:
    """The list's text and its file name; `-` reads standard input. InputError for a missing or non-text file."""
    if path == "-":
        import sys

        raw = (stdin or sys.stdin.buffer).read()
        name = None
    else:
        file = Path(path).expanduser()
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            raise InputError(f"The prompt list {file} does not exist.") from None
        except IsADirectoryError:
            raise InputError(f"The prompt list {file} is a folder, not a file.") from None
        except OSError as exc:
            raise InputError(f"The prompt list {file} cannot be read: {exc.strerror or exc}.") from None
        name = file.name
    if len(raw) > 200 * 2**20:
        raise InputError("The prompt list is larger than 200 MB; split it into several batches.")
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(f"The prompt list is not UTF-8 text (line {line}); save it as UTF-8.") from None


def _records(text: str, fmt: str):
    """(line number, {field: value}) per row, or (line number, error sentence)."""
    if fmt == "text":
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if stripped and not stripped.startswith("#"):
                yield number, {"prompt": stripped}
    elif fmt == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except ValueError:
                yield number, "not a JSON object"
                continue
            yield number, value if isinstance(value, dict) else "not a JSON object"
    else:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
        if "prompt" not in header:
            yield 1, "the CSV header has no `prompt` column"
            return
        reader.fieldnames = header
        start = reader.line_num + 1
        for row in reader:
            if any((v or "").strip() for k, v in row.items() if k is not None):
                yield start, {k: v for k, v in row.items() if k in FIELDS and v not in (None, "")}
            start = reader.line_num + 1


def _request(values: dict, defaults: dict) -> GenerationRequest:
    prompt = values.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("no prompt")
    count = values.get("count", defaults.get("count") or 1)
    try:
        count = int(str(count).strip())
    except ValueError:
        raise InputError(f"count {count!r} is not a whole number") from None

    def text(name):
        value = values.get(name, defaults.get(name))
        return str(value).strip() if value not in (None, "") else None

    return GenerationRequest(
        prompt=prompt,
        model=(text("model") or DEFAULT_MODEL).removeprefix("models/"),
        count=count,
        aspect_ratio=text("aspect_ratio"),
        size=text("size"),
    )


def parse(text: str, catalog: Catalog, *, name: str | None = None, defaults: dict | None = None) -> PromptList:
    """Every row checked; `defaults` (model, count, aspect_ratio, size) fill what a row leaves out."""
    defaults = dict(defaults or {})
    result = PromptList()
    for number, values in _records(text, detect_format(text, name)):
        if isinstance(values, str):
            result.errors.append(f"line {number}: {values}")
            continue
        try:
            base = _request(values, defaults)
            model: ModelInfo = catalog.resolve(base.model)
            for prompt in expand(base.prompt):
                checked = validate(
                    GenerationRequest(prompt, base.model, base.count, base.aspect_ratio, base.size), model
                )
                result.rows.append(PromptRow(number, checked))
        except InputError as exc:
            result.errors.append(f"line {number}: {str(exc).rstrip('.')}")
        if len(result.rows) > MAX_REQUESTS:
            raise InputError(
                f"The prompt list makes more than {MAX_REQUESTS:,} prompts; split it into several batches."
            )
    if not result.rows and not result.errors:
        result.errors.append("line 1: the list has no prompts")
    return result
