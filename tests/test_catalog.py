"""The catalog knows today's models (gemini-api.md, 2026-11-23), their token tables, and says so when a price is
not known instead of inventing one."""

import pytest

from services.catalog import DEFAULT_MODEL, Catalog
from services.emulator import Emulator
from tests.test_cli import atelier

CATALOG = Catalog.load()


def test_the_default_is_live_and_not_deprecated_on_google():
    model = CATALOG.get(DEFAULT_MODEL)
    assert model.google_status == "live" and model.protocol == "generateContent" and model.available_on("google")


def test_todays_models_and_their_status():
    status = {m.id: m.google_status for m in CATALOG.models()}
    assert status["gemini-nano-banana-2.1"] == "live" and status["gemini-3.1-flash-lite-image"] == "live"
    assert status["gemini-3-pro-image"] == "live" and status["gemini-3.1-flash-image"] == "deprecated"
    assert CATALOG.get("gemini-3.1-flash-image").available_on("google")  # deprecated still works
    assert "deprecated" in CATALOG.get("gemini-3.1-flash-image").retirement_note()


@pytest.mark.parametrize("preview", ["gemini-3-pro-image-preview", "gemini-3.1-flash-image-preview"])
def test_preview_ids_are_known_as_shut_down_but_never_offered(preview):
    model = CATALOG.resolve(preview)
    assert model.known and model.google_status == "retired" and model.retired_on == "2026-06-25"
    assert not model.available_on("google") and model.replacement in {m.id for m in CATALOG.models()}
    assert preview not in {m.id for m in CATALOG.models()}


def test_sizes_and_ratios_per_model():
    assert CATALOG.get("gemini-nano-banana-2.1").sizes == ("1K", "2K", "4K")  # it refuses 512
    assert len(CATALOG.get("gemini-nano-banana-2.1").aspect_ratios) == 14
    assert "512" in CATALOG.get("gemini-3.1-flash-image").sizes and "1:8" in CATALOG.get(DEFAULT_MODEL).aspect_ratios
    assert "1:4" not in CATALOG.get("gemini-3-pro-image").aspect_ratios
    assert CATALOG.get("gemini-2.5-flash-image").sizes == ()


def test_image_token_tables():
    pro, flash = CATALOG.get("gemini-3-pro-image"), CATALOG.get("gemini-3.1-flash-image")
    assert [pro.image_tokens_for(s) for s in ("1K", "2K", "4K")] == [1120, 1120, 2000]
    assert [flash.image_tokens_for(s) for s in ("512", "0.5K", "1K", "2K", "4K")] == [747, 747, 1120, 1680, 2520]
    assert CATALOG.get("gemini-2.5-flash-image").image_tokens_for(None) == 1290
    assert CATALOG.get("gemini-nano-banana-2.1").image_tokens_for("1K") is None


@pytest.mark.parametrize("model_id", ["gemini-nano-banana-2.1", "gemini-3.1-flash-lite-image"])
def test_no_invented_price(model_id):
    model = CATALOG.get(model_id)
    assert model.price_per_image("1K") is None and model.estimate_cost(2, "1K") is None
    assert model.usd_per_million_image_tokens is None


def test_cli_says_price_unknown(tmp_path):
    code, out, _ = atelier("models", "--endpoint", "google")
    line = next(row for row in out.splitlines() if "gemini-nano-banana-2.1" in row)
    assert code == 0 and "price unknown" in line
    assert "deprecated, consider gemini-nano-banana-2.1" in next(r for r in out.splitlines() if "3.1-flash-image " in r)
    with Emulator(require_key="k-123456") as server:
        code, out, err = atelier(
            "generate", "a fox", "--endpoint", server.url, "--auth", "header", "--library", str(tmp_path / "lib"),
            env={"GEMINI_API_KEY": "k-123456"},
        )  # fmt: skip
    assert code == 0 and "Done: 1 image saved, price unknown." in out, err
