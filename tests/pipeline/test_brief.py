"""The brief: a real ``openai`` client against a fake server, and the offline fallback."""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from pipeline.brief import BriefWriter, offline_brief
from pipeline.mood import read_mood
from pipeline.photo import clean_jpeg, load_photo
from tests.support.paths import EXAMPLE_PHOTO

CAPTIONS = ["a dog running on the beach", "a dog on the sand by the sea", "a brown dog at sunset"]


def _writer(server, timeout_s: float = 2.0) -> BriefWriter:  # type: ignore[no-untyped-def]
    return BriefWriter(api_key="test-key", base_url=server.base_url, model="m", timeout_s=timeout_s)


def test_a_good_answer_is_used(fake_openai) -> None:  # type: ignore[no-untyped-def]
    brief = _writer(fake_openai).write(CAPTIONS)
    assert brief.source == "llm"
    assert brief.genres == ("bossa nova", "ambient", "acoustic folk")
    assert brief.mood == "serene"
    sent = fake_openai.requests[0]
    assert sent["response_format"] == {"type": "json_object"}
    assert all(caption in sent["messages"][1]["content"] for caption in CAPTIONS)


def test_a_json_answer_in_a_code_fence_is_accepted(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.mode = "fenced"
    assert _writer(fake_openai).write(CAPTIONS).source == "llm"


def test_links_and_mentions_from_the_model_never_reach_the_brief(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.mode = "links"  # as a photo with "visit evil.example" written on it might steer it
    brief = _writer(fake_openai).write(CAPTIONS)
    assert brief.source == "llm"  # what is left is still a brief
    assert brief.genres == ("bossa nova", "jazz", "ambient") and brief.mood == "serene"
    written = " ".join([brief.description, *brief.genres, brief.mood, brief.prompt(0)])
    for link in ("evil.example", "t.me", "spam", "@", "http", "tg:"):
        assert link not in written
    assert brief.description.startswith("warm guitar")


def test_the_offline_brief_keeps_no_link_a_caption_read_from_the_photo() -> None:
    brief = offline_brief(["a sign that says join t.me/spam now", "a sign", "a wall"])
    assert "t.me" not in brief.description and "spam" not in brief.description
    assert "a sign that says join" in brief.description


@pytest.mark.parametrize(
    "mode", ["garbage", "wrong_types", "same_genres", "injection", "huge", "error500", "slow"]
)
def test_a_bad_answer_gives_the_offline_brief(fake_openai, mode: str) -> None:  # type: ignore[no-untyped-def]
    fake_openai.mode = mode
    brief = _writer(fake_openai, timeout_s=0.5).write(CAPTIONS)
    assert brief.source == "offline"
    assert brief == offline_brief(CAPTIONS)
    assert brief.description and len(set(brief.genres)) == 3


def test_no_key_and_no_server_means_offline_without_any_request(fake_openai) -> None:  # type: ignore[no-untyped-def]
    writer = BriefWriter(api_key=None, base_url=None, model="m")
    assert writer.client is None  # OpenAI's own server needs a key: nothing is sent
    assert writer.write(CAPTIONS).source == "offline"
    assert fake_openai.requests == []


def test_a_local_server_without_a_key_writes_the_brief(fake_openai) -> None:  # type: ignore[no-untyped-def]
    fake_openai.api_key = None  # like Ollama or vLLM: no key asked for
    writer = BriefWriter(api_key=None, base_url=fake_openai.base_url, model="llama3.1:8b")
    brief = writer.write(CAPTIONS)
    assert brief.source == "llm" and brief.genres == ("bossa nova", "ambient", "acoustic folk")
    (sent,) = fake_openai.requests
    assert sent["model"] == "llama3.1:8b"


def test_a_server_without_json_mode_gets_one_warning_and_still_writes_the_brief(
    fake_openai,
    caplog,  # type: ignore[no-untyped-def]
) -> None:
    fake_openai.mode = "no_json_mode"  # 400 for response_format; the JSON inside prose
    writer = _writer(fake_openai)
    with caplog.at_level("WARNING", logger="pipeline.brief"):
        first, second = writer.write(CAPTIONS), writer.write(CAPTIONS)
    assert first.source == second.source == "llm"
    assert first.genres == ("bossa nova", "ambient", "acoustic folk")
    (line,) = [r.getMessage() for r in caplog.records]
    assert "json_mode=off" in line and fake_openai.base_url in line
    # asked with JSON mode, refused, asked without; the second brief asks without at once
    formats = ["response_format" in body for body in fake_openai.requests]
    assert formats == [True, False, False]


def test_a_bad_request_that_json_mode_did_not_cause_keeps_json_mode(fake_openai, caplog) -> None:  # type: ignore[no-untyped-def]
    fake_openai.mode = "error400"
    writer = _writer(fake_openai)
    with caplog.at_level("WARNING", logger="pipeline.brief"):
        assert writer.write(CAPTIONS).source == "offline"
    assert writer.json_mode and "json_mode=off" not in caplog.text


def test_the_offline_brief_is_deterministic_and_follows_the_captions() -> None:
    beach = offline_brief(CAPTIONS)
    assert beach == offline_brief(list(CAPTIONS))
    assert "reggae" in beach.genres  # "beach" suggests it
    city = offline_brief(["a city street at night", "cars at night", "neon lights"])
    assert city.genres != beach.genres
    assert len(set(city.genres)) == 3


def test_the_offline_brief_never_has_an_empty_prompt() -> None:
    brief = offline_brief(["", "   ", ""])
    assert brief.description.strip() and all(g.strip() for g in brief.genres)
    assert brief.prompt(0).startswith(brief.genres[0])


def test_opposite_photos_get_opposite_moods() -> None:
    dark_cold = Image.new("RGB", (64, 64), (10, 20, 60))
    bright_warm = Image.new("RGB", (64, 64), (250, 180, 60))
    dark, bright = read_mood(dark_cold), read_mood(bright_warm)
    assert dark.valence < 0.5 <= bright.valence
    assert dark.label != bright.label
    assert offline_brief(CAPTIONS, dark).prompt(0) != offline_brief(CAPTIONS, bright).prompt(0)


def test_mood_and_tempo_reach_the_music_model_when_the_description_is_long(
    tiny_pipeline,  # type: ignore[no-untyped-def]
) -> None:
    long_captions = [" ".join(["a crowded street market with lanterns"] * 12)] * 3
    brief = offline_brief(long_captions, read_mood(Image.new("RGB", (64, 64), (250, 180, 60))))
    tokenizer = tiny_pipeline.generator.pipe.tokenizer
    assert len(tokenizer(brief.prompt(0)).input_ids) > tokenizer.model_max_length
    ids = tokenizer(brief.prompt(0), truncation=True, max_length=tokenizer.model_max_length)
    seen = tokenizer.decode(ids.input_ids, skip_special_tokens=True).replace(" ", "")
    assert brief.mood.replace(" ", "") in seen and f"{brief.tempo_bpm}bpm" in seen


def test_vision_mode_sends_the_photo_without_metadata(fake_openai) -> None:  # type: ignore[no-untyped-def]
    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (37.0, 33.0, 59.0)}
    out = io.BytesIO()
    Image.open(EXAMPLE_PHOTO).save(out, format="JPEG", exif=exif)
    jpeg = clean_jpeg(load_photo(out.getvalue()))
    writer = BriefWriter(api_key="test-key", base_url=fake_openai.base_url, model="m")
    assert writer.write(["a sunset"], image_jpeg=jpeg).source == "llm"
    content = fake_openai.requests[0]["messages"][1]["content"]
    assert content[0]["type"] == "text" and json.loads(content[0]["text"])["captions"] == [
        "a sunset"
    ]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/jpeg;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert not sent.getexif() and max(sent.size) <= 1024
