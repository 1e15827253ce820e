"""A validation finding: where, which rule, what is wrong and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is; only errors fail a check."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Finding:
    """One problem at file:line."""

    file: str
    line: int
    rule: str
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        hint = f" (fix: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}: {self.severity.value} [{self.rule}] {self.message}{hint}"
