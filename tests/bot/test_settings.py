"""Every setting is documented in .env.example, with its real default."""

from __future__ import annotations

import re

from bot.settings import Settings
from tests.support.paths import ROOT


def _env_names() -> dict[str, str]:
    lines = (ROOT / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if re.match(r"^[A-Z_]+=", line))


def test_every_setting_is_in_env_example_with_a_comment() -> None:
    documented = _env_names()
    text = (ROOT / ".env.example").read_text().splitlines()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if alias is not None else f"IMMU_{name.upper()}"  # type: ignore[union-attr]
        assert env in documented, f"{env} missing from .env.example"
        index = next(i for i, line in enumerate(text) if line.startswith(f"{env}="))
        assert text[index - 1].startswith("#"), f"{env} has no comment"


def test_env_example_defaults_are_the_real_defaults(monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # no .env here
    for key in list(__import__("os").environ):
        if key.startswith(("IMMU_", "TELEGRAM_", "OPENAI_")):
            monkeypatch.delenv(key)
    defaults = Settings()
    for key, value in _env_names().items():
        monkeypatch.setenv(key, value)
    from_example = Settings()
    assert from_example == defaults


def test_the_phase_setting_reaches_the_pipeline(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IMMU_PHASE", "griffin-lim")
    assert Settings().pipeline_config().phase == "griffin-lim"
    monkeypatch.delenv("IMMU_PHASE")
    assert Settings(_env_file=None).pipeline_config().phase == "pghi"  # type: ignore[call-arg]
