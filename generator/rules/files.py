"""Rules that concern a whole file rather than a row. They are raised where the file is read
(ingest, provenance); these classes name them, say why they exist and give their severity."""

from __future__ import annotations

from ..model import Severity
from .base import Rule


class FileRule(Rule):
    """Base of the whole-file rules: raised by the reader, never run on rows."""

    scope = "file"

    def check(self, batch):  # pragma: no cover - never called for file rules
        return iter(())


class ProvenanceMissing(FileRule):
    """Only approved files are published: a file without its provenance sidecar (who submitted
    it, for which authority, who approved it and when) cannot be traced, so none of its rows are
    published."""

    id = "provenance.missing"
    title = "缺少来源说明文件"


class ProvenanceInvalid(FileRule):
    """A provenance sidecar with missing or malformed entries, or an approval dated after the
    build or before the submission, does not show the file was approved; its rows wait."""

    id = "provenance.invalid"
    title = "来源说明文件不完整或有误"


class FileUnreadable(FileRule):
    """A file that cannot be opened is reported, and the rest of the datasets still build."""

    id = "file.unreadable"
    title = "文件无法读取"


class FileEmpty(FileRule):
    """An empty file publishes nothing; it is probably a mistaken submission."""

    id = "file.empty"
    severity = Severity.WARNING
    title = "文件为空"


class FileUnsupported(FileRule):
    """Only CSV and XLSX are read; a file of another type in a dataset folder is reported rather
    than silently ignored, so nobody believes it was published."""

    id = "file.unsupported"
    severity = Severity.WARNING
    title = "不支持的文件类型"


class FolderUnknown(FileRule):
    """Data in a folder that is not one of the four datasets would never be published."""

    id = "dataset.unknown_folder"
    severity = Severity.WARNING
    title = "未知的数据集文件夹"


class HeaderUnrecognised(FileRule):
    """When fewer than three columns can be matched to the schema the file is probably in the
    wrong folder or uses unknown names; guessing would publish text under the wrong field."""

    id = "header.unrecognised"
    title = "表头无法识别"


class HeaderUnknownColumn(FileRule):
    """Extra columns are common in exports (序号, internal ids); they are ignored, and reported
    so a misspelt field name does not silently drop a field."""

    id = "header.unknown_column"
    severity = Severity.WARNING
    title = "未知的列"


class HeaderDuplicateColumn(FileRule):
    """Two columns for one field: the first is read and the other reported, never merged."""

    id = "header.duplicate_column"
    severity = Severity.WARNING
    title = "重复的列"


class SheetIgnored(FileRule):
    """A workbook sheet without a recognisable header is not read; it is reported in case it
    holds data."""

    id = "xlsx.sheet_ignored"
    severity = Severity.WARNING
    title = "工作表未读取"
