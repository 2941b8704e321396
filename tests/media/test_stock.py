"""The stock prompts (audio/): small telephone-format files, documented, made again byte for byte by
tools/gen_audio.py, installed with the package, and prepared into the prompt cache at both clock rates."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from alertnode.media.config import MediaConfig
from alertnode.media.prompts import PromptCache
from alertnode.media.stock import STOCK, post_text, stock_bytes

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(STOCK))
def test_each_is_an_8_khz_g711_wav_of_a_few_tens_of_kb(name: str) -> None:
    data = stock_bytes(name)
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "ULAW", 1, 8000)
    assert 0.2 <= info.duration <= 8 and len(data) <= 64 * 1024
    assert data == (ROOT / "audio" / STOCK[name].file).read_bytes()  # the package's are the folder's


def test_all_together_are_well_under_500_kb_and_the_readme_gives_each_text() -> None:
    assert sum(len(stock_bytes(name)) for name in STOCK) < 250 * 1024
    readme = (ROOT / "audio" / "README.md").read_text(encoding="utf-8")
    assert "CC0" in readme and "espeak-ng" in readme and "en-gb+f3" in readme
    for prompt in STOCK.values():
        assert prompt.file in readme
        if prompt.voice:
            assert prompt.text in readme


def test_the_generator_makes_the_same_bytes_again() -> None:
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_audio.py"), "--check"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stdout + run.stderr


def test_prewarm_puts_every_stock_prompt_in_the_cache_at_both_rates(tmp_path: Path) -> None:
    cache = PromptCache(tmp_path, MediaConfig())
    try:
        files = cache.prewarm()
        assert set(files) == set(STOCK) and cache.misses == len(STOCK)
        for name, path in files.items():
            for rate in (8000, 16000):
                wav = path.with_name(path.name.replace("-8000.wav", f"-{rate}.wav"))
                info = sf.info(wav)
                assert (info.samplerate, info.subtype) == (rate, "PCM_16"), name
        cache.prewarm()
        assert cache.hits == len(STOCK) and cache.misses == len(STOCK)  # a second start finds them
        assert cache.prepare_stock("goodbye", 16000).name.endswith("-16000.wav")
    finally:
        cache.close()


def test_the_post_prompt_names_the_alerts_own_keys() -> None:
    assert post_text("1", "2") is None  # the stock file says it
    assert post_text("3", "45") == (
        "To hear this message again, press 3. To confirm that you have received it, press 4 or 5."
    )
    assert post_text("*", "#0A") == (
        "To hear this message again, press star. To confirm that you have received it, press hash, 0 or A."
    )
