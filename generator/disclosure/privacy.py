"""Personal data, protected once, centrally, before anything is written.

Every output takes its records from :meth:`Decisions.published`, which calls :func:`protect`:
fields marked ``privacy: drop`` in the schemas (the legal representative's ID number) are
removed, and fields marked ``privacy: mask`` (a natural person's ID number) are masked with the
birth date hidden: 450102********1234. Templates never see a number in clear.
"""

from __future__ import annotations

import pyarrow as pa

from ..codes import mask_id_numbers, mask_one
from ..schema import Dataset


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


__all__ = ["mask_id_numbers", "mask_one", "protect"]
