"""``self_instruct`` (read only): ``{"instruction", "instances": [{"input", "output"}, ...]}``.

The task layout of the Self-Instruct seed files. Each instance becomes one record: user = the
instruction, plus a blank line and the input when it is not empty; assistant = the output. All
records of one task share the task as their ``meta["group"]``, so the split keeps them together.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from teachkit.formats.base import RowError, RowFormat, instruction_text, new_record, text_field
from teachkit.records import Message, Record

__all__ = ["SELF_INSTRUCT", "SelfInstructFormat"]


class SelfInstructFormat(RowFormat):
    name = "self_instruct"
    summary = "Self-Instruct tasks, one record per instance (read only)"
    layout = '{"instruction", "instances": [{"input", "output"}, ...]}'
    detect_order = 40

    def to_records(self, row: Mapping[str, Any]) -> list[Record]:
        instruction = text_field(row, "instruction")
        instances = row.get("instances")
        if not isinstance(instances, list) or not instances:
            raise RowError("field 'instances' must be a non-empty list of {input, output}")
        records: list[Record] = []
        for position, instance in enumerate(instances):
            if not isinstance(instance, Mapping):
                raise RowError(f"instances[{position}] is not an object")
            user = instruction_text(instruction, text_field(instance, "input", required=False))
            messages: list[Message] = [
                {"role": "user", "content": user},
                {"role": "assistant", "content": text_field(instance, "output")},
            ]
            records.append(new_record(messages))
        group = records[0].id
        for record in records[1:]:
            record.meta["group"] = group
        return records

    def detect(self, row: Mapping[str, Any]) -> bool:
        return "instruction" in row and "instances" in row


SELF_INSTRUCT = SelfInstructFormat()
