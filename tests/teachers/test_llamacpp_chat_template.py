"""The embedded backend's chat template, read from the GGUF header without loading the model,
agrees with what llama.cpp itself reads when it loads the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from teachkit.errors import ConfigError
from teachkit.recipe.base import TeacherConfig
from teachkit.teachers.llamacpp import LlamaCppBackend, default_model_path, gguf_chat_template
from teachkit.teachers.registry import build_backend


@pytest.mark.slow
def test_the_header_reader_agrees_with_llama_cpp() -> None:
    llama_cpp = pytest.importorskip("llama_cpp")
    path = default_model_path()
    template = gguf_chat_template(str(path))
    assert template is not None
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, verbose=False)
    try:
        assert template.source == llm.metadata["tokenizer.chat_template"]
        assert template.bos_token == llm._model.token_get_text(llm.token_bos())
        assert template.eos_token == llm._model.token_get_text(llm.token_eos())
    finally:
        llm.close()


def test_the_backend_exposes_it_unless_chat_format_replaces_it() -> None:
    backend = build_backend(TeacherConfig(backend="llamacpp"))
    assert isinstance(backend, LlamaCppBackend)
    template = backend.chat_template()
    assert template is not None and "{% for message in messages %}" in template.source
    assert backend._llm is None  # nothing was loaded
    other = build_backend(TeacherConfig(backend="llamacpp", options={"chat_format": "chatml"}))
    assert other.chat_template() is None


def test_a_damaged_file_is_a_clear_error(tmp_path: Path) -> None:
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(default_model_path().read_bytes()[:4096])
    with pytest.raises(ConfigError, match="Cannot read the metadata"):
        gguf_chat_template(str(cut))
    backend = build_backend(TeacherConfig(backend="llamacpp", model=str(cut)))
    assert backend.chat_template() is None  # only recipes that need it fail, and say why
