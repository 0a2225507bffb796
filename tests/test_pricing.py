"""What each model and size costs, from usage bodies shaped like the server's (shared/gemini-api.md)."""

import pytest

from services import pricing
from services.catalog import Catalog
from services.pricing import cost_from_usage, estimate_job, usage_from_metadata

# (model, size, the per-image price in gemini-api.md, image tokens per image in gemini-api.md)
GEMINI_TABLE = [
    ("gemini-3.1-flash-image", "512", 0.045, 747),
    ("gemini-3.1-flash-image", "1K", 0.067, 1120),
    ("gemini-3.1-flash-image", "2K", 0.101, 1680),
    ("gemini-3.1-flash-image", "4K", 0.151, 2520),
    ("gemini-3-pro-image", "1K", 0.134, 1120),
    ("gemini-3-pro-image", "2K", 0.134, 1120),
    ("gemini-3-pro-image", "4K", 0.24, 2000),
    ("gemini-2.5-flash-image", None, 0.039, 1290),
    ("gemini-2.5-flash-image-preview", None, 0.039, 1290),
]


def body(image_tokens, prompt=9, text=8, thoughts=None, references=0):
    meta = {
        "promptTokenCount": prompt + references * 560,
        "candidatesTokenCount": image_tokens + text,
        "totalTokenCount": prompt + references * 560 + image_tokens + text,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_tokens}],
    }
    if text:
        meta["candidatesTokensDetails"].append({"modality": "TEXT", "tokenCount": text})
    if thoughts is not None:
        meta["thoughtsTokenCount"] = thoughts
    return {"candidates": [{"content": {"role": "model", "parts": []}, "finishReason": "STOP"}], "usageMetadata": meta}


@pytest.mark.parametrize("model,size,listed,tokens", GEMINI_TABLE)
def test_cost_of_each_model_and_size_from_a_real_usage_body(model, size, listed, tokens):
    usage = usage_from_metadata(body(tokens, references=2, thoughts=120))
    usd, estimated = cost_from_usage(model, usage, images=1, size=size)
    assert not estimated
    assert usd == pytest.approx(tokens * pricing.PRICES[model].output_image / 1e6)
    assert abs(usd - listed) <= 0.0005  # the listed price is the same figure rounded to a tenth of a cent
    batch, _ = cost_from_usage(model, usage, batch=True, images=1, size=size)
    assert batch == pytest.approx(usd / 2)


def test_derived_image_token_prices():
    rates = {m: p.output_image for m, p in pricing.PRICES.items()}
    assert rates["gemini-3.1-flash-image"] == 60.0
    assert rates["gemini-3-pro-image"] == 120.0
    assert rates["gemini-2.5-flash-image"] == 30.0
    assert rates["imagen-4.0-generate-001"] is None  # billed per image


def test_a_price_table_with_a_typo_does_not_derive():
    with pytest.raises(ValueError, match="does not reproduce"):
        pricing.derive_image_token_price({"1K": 0.067, "2K": 0.201}, {"1K": 1120, "2K": 1680})


def test_usage_parser_reads_every_count_in_either_spelling():
    camel = usage_from_metadata(body(1120, prompt=30, text=12, thoughts=200, references=3))
    assert (camel.prompt_tokens, camel.image_tokens, camel.text_tokens, camel.thoughts_tokens) == (1710, 1120, 12, 200)
    snake = usage_from_metadata(
        {
            "usage_metadata": {
                "prompt_token_count": 1710,
                "candidates_token_count": 1132,
                "thoughts_token_count": 200,
                "candidates_tokens_details": [{"modality": "IMAGE", "token_count": 1120}],
            }
        }
    )
    assert snake == camel  # text tokens follow from candidates minus image tokens when there is no TEXT detail
    assert usage_from_metadata({"candidates": []}) is None
    assert usage_from_metadata({"usageMetadata": {"promptTokenCount": "many"}}).prompt_tokens == 0


def test_two_images_in_one_usage_cost_twice_one():
    usage = usage_from_metadata(body(2 * 1680))
    assert cost_from_usage("gemini-3.1-flash-image", usage, images=2, size="2K")[0] == pytest.approx(2 * 0.1008)


def test_no_usage_is_an_estimate_from_the_price_per_image():
    assert cost_from_usage("gemini-3-pro-image", None, images=3, size="4K") == (pytest.approx(0.72), True)
    # A proxy's usage with no IMAGE breakdown cannot price the images it sent: estimated the same way.
    bare = usage_from_metadata({"usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1298}})
    assert cost_from_usage("gemini-3.1-flash-image", bare, images=1, size="1K") == (pytest.approx(0.067), True)


def test_imagen_is_billed_per_image_not_estimated():
    assert cost_from_usage("imagen-4.0-ultra-generate-001", None, images=2, size="2K") == (pytest.approx(0.12), False)
    assert cost_from_usage("imagen-4.0-fast-generate-001", None, images=4) == (pytest.approx(0.08), False)
    assert cost_from_usage("imagen-4.0-generate-001", None, images=3, batch=True)[0] == pytest.approx(0.06)
    assert cost_from_usage("imagen-4.0-generate-001", None, images=0) == (0.0, False)  # all filtered


def test_unknown_prices_are_none_never_guessed():
    usage = usage_from_metadata(body(1120))
    for model in ("gemini-nano-banana-2.1", "gemini-3.1-flash-lite-image", "gemini-3-pro-image-preview"):
        assert cost_from_usage(model, usage, images=1)[0] is None
        assert estimate_job(model, 1, "1K", 0) is None
    # A blocked prompt: only input tokens, whose price is not in our notes.
    blocked = usage_from_metadata(
        {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 9}}
    )
    assert cost_from_usage("gemini-3-pro-image", blocked, images=0) == (None, False)
    # A size the model does not make has no price either.
    assert estimate_job("gemini-3-pro-image", 1, "512", 0) is None


def test_estimate_before_sending():
    assert estimate_job("gemini-3-pro-image", 4, "4K", reference_count=2) == pytest.approx(0.96)
    assert estimate_job("gemini-3.1-flash-image", 1, "0.5K", 0) == estimate_job("gemini-3.1-flash-image", 1, "512", 0)
    assert estimate_job("gemini-3.1-flash-image", 2, None, 0) == pytest.approx(2 * 0.0672)  # 1K by default
    assert estimate_job("gemini-2.5-flash-image", 3, None, 1) == pytest.approx(3 * 0.0387)
    assert estimate_job("imagen-4.0-ultra-generate-001", 3, "1K", 0) == pytest.approx(0.18)
    assert estimate_job("models/gemini-3-pro-image", 2, "1K", 0, batch=True) == pytest.approx(0.1344)


def test_estimate_counts_reference_and_earlier_turn_images_once_an_input_price_is_known(monkeypatch):
    price = pricing.PRICES["gemini-3-pro-image"]
    monkeypatch.setitem(pricing.PRICES, "gemini-3-pro-image", pricing.ModelPrice(**{**price.__dict__, "input": 2.0}))
    base = estimate_job("gemini-3-pro-image", 2, "1K", 0)
    more = estimate_job("gemini-3-pro-image", 2, "1K", reference_count=2, earlier_turn_images=1)
    assert more - base == pytest.approx(2 * 3 * 560 * 2.0 / 1e6)


def test_the_catalog_shows_the_same_prices():
    for model in Catalog.load().models():
        price = pricing.price_for(model.id)
        if price is None:  # no published price (Nano Banana 2.1, 3.1 Flash Lite): the catalog invents none either
            assert not model.price_usd and model.estimate_cost(1, None) is None, model.id
            continue
        for size in model.sizes or [None]:
            assert model.price_per_image(size) == price.price_per_image(size), (model.id, size)
        assert model.usd_per_million_image_tokens == price.output_image, model.id
