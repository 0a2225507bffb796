"""The per-file read of the import (services/import_reading.py): its rows are the same whichever way they are made."""

from __future__ import annotations

import json

import pytest

from services import import_reading


@pytest.mark.parametrize(
    "params",
    [
        {"prompt": "a castle", "seed": 1234567890, "cfg": 6.5, "parameters": {"Steps": "28"}, "file": "a.png"},
        {"prompt": '夕暮れの灯台 — «phare» \u2028 "quoted" \\ \n', "seed": None, "cfg": 1e16, "file": "é.png"},
        {"prompt": "", "file": "bad-\udcff-name.png"},  # os.fsdecode's escape for a byte that is not UTF-8
        {"prompt": "x", "seed": 2**70, "file": "big.png"},  # a seed beyond 64 bits
        {"prompt": "lone \ud800 surrogate from a JSON graph", "file": "c.png"},
    ],
)
def test_params_json_decodes_to_the_same_dict_as_json_s_encoding(params):
    encoded = import_reading.params_json(params)
    assert isinstance(encoded, str)
    assert json.loads(encoded) == params == json.loads(json.dumps(params, ensure_ascii=False))
