"""Shared fixtures: tiny models written once per run, fake servers on loopback."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.telegram_server import FakeTelegram
from tests.support.paths import EXAMPLE_PHOTO

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach a model hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
if "PYTEST_XDIST_WORKER" in os.environ:
    # one thread per test process (and the bots it starts): with a torch thread per core
    # in each of pytest-xdist's processes, OpenMP's waiting threads ate the cores
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Tiny random-weight models, written by the same code as ``immu models tiny``."""
    from pipeline.weights import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny-models"))


@pytest.fixture(scope="session")
def tiny_config(tiny_models: dict[str, str]):  # type: ignore[no-untyped-def]
    from pipeline.chain import PipelineConfig

    return PipelineConfig(
        caption_model=tiny_models["IMMU_CAPTION_MODEL"],
        music_model=tiny_models["IMMU_MUSIC_MODEL"],
        device="cpu",
        steps=2,
        griffin_lim_iters=2,
    )


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_config):  # type: ignore[no-untyped-def]
    from pipeline.chain import Pipeline

    return Pipeline(tiny_config)


@pytest.fixture()
def fake_openai() -> Iterator[object]:
    from tests.fakes.openai_server import FakeOpenAI

    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def photo_bytes() -> bytes:
    return EXAMPLE_PHOTO.read_bytes()


@pytest.fixture()
def tg() -> Iterator[FakeTelegram]:
    """The fake Bot API on loopback, for one test."""
    server = FakeTelegram().start()
    yield server
    server.stop()
