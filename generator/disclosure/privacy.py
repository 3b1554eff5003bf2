"""Personal data, protected once, centrally, before anything is written.

Every output takes its records from :meth:`Decisions.published`, which calls :func:`protect`:
fields marked ``privacy: drop`` in the schemas (the legal representative's ID number) are
removed, and fields marked ``privacy: mask`` (a natural person's ID number) are masked with the
birth date hidden: 450102********1234. Templates never see a number in clear.
"""

from __future__ import annotations

import pyarrow as pa

from ..schema import Dataset

MASK = "*"


def protect(dataset: Dataset, records: pa.Table) -> pa.Table:
    for f in dataset.fields:
        if f.name not in records.column_names:
            continue
        if f.privacy == "drop":
            records = records.drop_columns([f.name])
        elif f.privacy == "mask":
            index = records.column_names.index(f.name)
            records = records.set_column(index, f.name, mask_id_numbers(records[f.name].combine_chunks()))
    return records


def mask_id_numbers(values: pa.Array) -> pa.Array:
    """Hide the middle of each number: 18-digit IDs keep 6 + 4 (the birth date, positions 7–14,
    is hidden), 15-digit IDs 6 + 3; other documents keep a quarter at each end."""
    texts = values.to_pylist()
    return pa.array([mask_one(t) if t else t for t in texts], pa.string())


def mask_one(number: str) -> str:
    n = len(number)
    if n == 18:
        head, tail = 6, 4
    elif n == 15:
        head, tail = 6, 3
    else:
        head = tail = n // 4
    return number[:head] + MASK * (n - head - tail) + number[n - tail:] if n - head - tail > 0 else MASK * n


__all__ = ["mask_id_numbers", "mask_one", "protect"]
