"""The four datasets' Table Schemas: the single source of truth for reading, rules and outputs.

The JSON files in ``generator/schemas/`` are Frictionless Table Schemas with a few extra keys
that the generator reads:

``code``          the national field code (XK_…/CF_…), one of the accepted header names
``aliases``       further header names seen in department exports
``normalize``     how a raw cell is cleaned: text, code, enum, categories, date, date_open_end, amount_wan
``requiredFor``   subject categories for which the field is required
``enumAliases``   values older systems use, mapped to the canonical enum value
``itemEnum``      allowed items of a list field
``identifier``    ``uscc`` or ``id_no``: which code check applies
``privacy``       ``drop`` (never published) or ``mask`` (published masked)

and, at schema level, ``recordKey`` (with the subject, what identifies one decision),
``dateOrder`` (pairs of fields that must not run backwards) and ``decisionDateField``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

DATASET_NAMES = ("licensing", "penalties", "redlist", "blacklist")


@dataclass(frozen=True)
class Field:
    """One column of a dataset, as the schema describes it."""

    name: str
    title: str
    type: str
    description: str
    code: str | None = None
    normalize: str = "text"
    required: bool = False
    required_for: tuple[str, ...] = ()
    enum: tuple[str, ...] = ()
    pattern: str | None = None
    item_enum: tuple[str, ...] = ()
    enum_aliases: dict[str, str] = field(default_factory=dict)
    identifier: str | None = None
    privacy: str | None = None
    aliases: tuple[str, ...] = ()

    @classmethod
    def from_descriptor(cls, d: dict) -> Field:
        constraints = d.get("constraints", {})
        return cls(
            name=d["name"],
            title=d["title"],
            type=d["type"],
            description=d.get("description", ""),
            code=d.get("code"),
            normalize=d.get("normalize", "text"),
            required=bool(constraints.get("required", False)),
            required_for=tuple(d.get("requiredFor", ())),
            enum=tuple(constraints.get("enum", ())),
            pattern=constraints.get("pattern"),
            item_enum=tuple(d.get("itemEnum", ())),
            enum_aliases=dict(d.get("enumAliases", {})),
            identifier=d.get("identifier"),
            privacy=d.get("privacy"),
            aliases=tuple(d.get("aliases", ())),
        )

    def allowed_text(self) -> str:
        """The allowed values in words, for messages and the data dictionary: 普通、特许、…、其他…"""
        if self.enum:
            return "、".join(self.enum)
        if self.item_enum:
            return "、".join(self.item_enum)
        if self.pattern:
            return self.pattern.strip("^$()").replace("|", "、").replace(".*", "…")
        return ""

    def header_names(self) -> dict[str, str]:
        """Every accepted header spelling, keyed by its normalised form, mapped to its style."""
        names = {header_key(self.title): "title", header_key(self.name): "name"}
        if self.code:
            names[header_key(self.code)] = "code"
        for alias in self.aliases:
            names.setdefault(header_key(alias), "title")
        return names


@dataclass(frozen=True)
class Dataset:
    """One of the four disclosure datasets and its schema."""

    name: str
    title: str
    description: str
    fields: tuple[Field, ...]
    record_key: tuple[str, ...]
    date_order: tuple[tuple[str, str], ...]
    decision_date_field: str
    descriptor: dict

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        return self._by_name()[name]

    def has(self, name: str) -> bool:
        return name in self._by_name()

    def _by_name(self) -> dict[str, Field]:
        return _fields_by_name(self.name)

    def header_lookup(self) -> dict[str, tuple[str, str]]:
        """Normalised header → (field name, header style)."""
        return _header_lookup(self.name)


_SPACES = re.compile(r"\s+")


def header_key(text: str) -> str:
    """Normalise a header cell so that spelling variants meet: NFKC (full-width brackets and
    letters become half-width), no spaces, no BOM, lower case."""
    text = unicodedata.normalize("NFKC", text).replace("\ufeff", "")
    return _SPACES.sub("", text).lower()


@cache
def load_dataset(name: str) -> Dataset:
    """Read the bundled schema of dataset ``name``."""
    if name not in DATASET_NAMES:
        raise KeyError(name)
    text = resources.files("generator").joinpath("schemas", f"{name}.json").read_text(encoding="utf-8")
    d = json.loads(text)
    return Dataset(
        name=d["name"],
        title=d["title"],
        description=d.get("description", ""),
        fields=tuple(Field.from_descriptor(f) for f in d["fields"]),
        record_key=tuple(d["recordKey"]),
        date_order=tuple(tuple(p) for p in d.get("dateOrder", ())),
        decision_date_field=d["decisionDateField"],
        descriptor=d,
    )


def datasets() -> list[Dataset]:
    """All four datasets in their canonical order."""
    return [load_dataset(n) for n in DATASET_NAMES]


@cache
def _fields_by_name(name: str) -> dict[str, Field]:
    return {f.name: f for f in load_dataset(name).fields}


@cache
def _header_lookup(name: str) -> dict[str, tuple[str, str]]:
    lookup: dict[str, tuple[str, str]] = {}
    for f in load_dataset(name).fields:
        for key, style in f.header_names().items():
            lookup.setdefault(key, (f.name, style))
    return lookup
