"""Automatic1111's infotext: the prompt, an optional `Negative prompt:` and one last line of `Key: value` pairs.

Parsed by A1111's own rules (modules/infotext_utils.py parse_generation_parameters), in linear time.
"""

from __future__ import annotations

import json
import re

# Automatic1111's own pattern. Its cost is about the line's length times its longest run of characters that are key
# characters or spaces (a failed start rescans the run), so it is used only when that run is short: then it is
# linear and runs at C speed (~1 µs for a usual line, against ~40 µs for the scan below, which is linear always).
A1111_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RUN_BREAKS = re.compile(r"[^\w \-/\s]+")
_REGEX_SAFE_RUN = 128


def parse_infotext(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, parameters) by Automatic1111's rules (parse_generation_parameters): the last line
    is parameters when its pattern matches at least 3 times; `Negative prompt:` starts the negative prompt; lines
    are stripped; JSON-quoted values are unquoted; a key with an empty value is dropped (A1111 skips it too)."""
    *lines, last = text.strip().split("\n")
    pairs = param_pairs(last)
    if len(pairs) < 3:
        lines.append(last)
        pairs = []
    prompt: list[str] = []
    negative: list[str] = []
    done_with_prompt = False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            done_with_prompt = True
            line = line[16:].strip()
        target = negative if done_with_prompt else prompt
        if target or line:  # A1111 adds a newline only once the text is not empty (lists: linear, not quadratic)
            target.append(line)
    if '"' not in last:  # no JSON-quoted value: the loop below would only drop the empty ones
        return "\n".join(prompt), "\n".join(negative), {key: value for key, value in pairs if value}
    params: dict[str, str] = {}
    for key, value in pairs:
        if not value:
            continue
        if value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):
                pass
        params[key] = value
    return "\n".join(prompt), "\n".join(negative), params


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _is_key_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_ -/"


def param_pairs(line: str) -> list[tuple[str, str]]:
    """What A1111's `re.findall` returns for one line (see A1111_PARAM), by the regex itself when that is safe (no long
    run of key characters or spaces), else by the linear scan."""
    if len(line) <= _REGEX_SAFE_RUN or max(map(len, _RUN_BREAKS.split(line))) <= _REGEX_SAFE_RUN:
        return A1111_PARAM.findall(line)
    return param_pairs_linear(line)


def param_pairs_linear(line: str) -> list[tuple[str, str]]:
    """What A1111's `re.findall(r'\\s*(\\w[\\w \\-/]+):\\s*("(?:\\\\.|[^\\\\"])+"|[^,]*)(?:,|$)', line)`
    returns for one line, in linear time.

    A key is a word character then a maximal run of key characters that must end at `:`. Where a match fails at
    one start it fails at every start inside the same run, so the scan jumps to the run's end instead of retrying
    each position (the regex does, which is quadratic on a long line without colons).
    """
    pairs: list[tuple[str, str]] = []
    n = len(line)
    p = 0
    while p < n:
        q = p
        while q < n and line[q].isspace():
            q += 1
        if q >= n:
            break
        if not _is_word(line[q]):
            p = q + 1
            continue
        r = q + 1
        while r < n and _is_key_char(line[r]):
            r += 1
        if r - q < 2 or r >= n or line[r] != ":":
            p = r
            continue
        v = r + 1
        while v < n and line[v].isspace():
            v += 1
        value, after = _quoted_value(line, v)
        if value is None:
            comma = line.find(",", v)
            after = n if comma < 0 else comma
            value = line[v:after]
        pairs.append((line[q:r], value))
        p = after + 1
    return pairs


def _quoted_value(line: str, v: int) -> tuple[str | None, int]:
    """A `"..."` value (at least one character, backslash escapes) followed by `,` or the end, and where it ends."""
    n = len(line)
    if v >= n or line[v] != '"':
        return None, v
    i = v + 1
    while i < n and line[i] != '"':
        if line[i] == "\\":
            if i + 1 >= n or line[i + 1] == "\n":
                return None, v
            i += 2
        else:
            i += 1
    if i >= n or i == v + 1 or (i + 1 < n and line[i + 1] != ","):
        return None, v
    return line[v : i + 1], i + 1
