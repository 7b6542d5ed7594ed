"""The LLM key reaches a host's pipeline actors without entering Ray's actor arguments."""

from __future__ import annotations

import pickle
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from pipeline.chain import PipelineConfig
from pipeline.ray_worker import secrets_for_actors, start_workers

KEY = "sk-immu-test-0123456789"
CONFIG = PipelineConfig(llm_api_key=KEY, llm_base_url="http://127.0.0.1:9/v1")


def _read_from_another_process(path: str) -> subprocess.CompletedProcess[str]:
    code = "import sys, pathlib; print(pathlib.Path(sys.argv[1]).read_text())"
    return subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True, timeout=60
    )


def test_actors_on_this_host_read_the_key_only_while_immu_worker_holds_it() -> None:
    with secrets_for_actors(CONFIG) as path:
        assert path is not None
        assert KEY in _read_from_another_process(path).stdout
    assert not Path(path).exists()  # gone with its block
    with secrets_for_actors(replace(CONFIG, llm_api_key=None)) as path:
        assert path is None  # nothing to hand over


def test_the_key_is_not_in_the_arguments_ray_keeps(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray")
    sent: list[tuple[Any, ...]] = []

    class Actor:
        def __init__(self) -> None:
            self.info = self

        def options(self, **_: Any) -> Actor:
            return self

        def remote(self, *args: Any) -> Actor:
            sent.append(args)
            return self

    class Context:
        def get_node_id(self) -> str:
            return "ab" * 28

    monkeypatch.setattr(ray, "remote", lambda **_: lambda cls: Actor())
    monkeypatch.setattr(ray, "get_runtime_context", Context)
    monkeypatch.setattr(ray, "get", lambda refs: refs)
    with secrets_for_actors(CONFIG) as path:
        start_workers(CONFIG, count=2, gpus_per_worker=0, name="h", secrets_path=path)
    created = [args for args in sent if args and isinstance(args[0], PipelineConfig)]
    assert len(created) == 2
    assert all(args == (replace(CONFIG, llm_api_key=None), path) for args in created)
    assert KEY.encode() not in pickle.dumps(created)
