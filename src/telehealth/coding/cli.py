"""Command line: ``telehealth code FILE`` and ``telehealth coding audit|test``.

Exit statuses: 0 no error finding, 1 at least one error finding (or a failing case),
2 unreadable or invalid input (the message names the field, or the line for claim files).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from telehealth.coding.audit import DEFAULT_MAX_GROUPS, Auditor, AuditSummary, Hit
from telehealth.coding.cases import run_all
from telehealth.coding.encounter import Encounter
from telehealth.coding.engine import code_encounter
from telehealth.coding.loader import DEFAULT_POLICY_DIR, load_codeset
from telehealth.coding.reader import read_claims
from telehealth.errors import DomainError

coding_app = typer.Typer(
    help="Billing codes for encounters, claim audit, and the coding policy cases.",
    no_args_is_help=True,
)
_PROGRESS_EVERY = 16_384


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def _fail(message: str, status: int = 2) -> typer.Exit:
    sys.stderr.write(f"error: {message}\n")
    return typer.Exit(status)


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "record"
    return f"invalid encounter: {where}: {first['msg']}"


def _read_text(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    try:
        return Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read {file}: {exc}") from None


def _policy_dir(policies: Path | None) -> Path:
    return policies if policies is not None else DEFAULT_POLICY_DIR


def code_command(
    file: Annotated[str, typer.Argument(help="Encounter record (JSON); - reads stdin.")],
) -> None:
    """Print the billing lines and findings for one completed encounter."""
    text = _read_text(file)
    try:
        record = Encounter.model_validate_json(text)
        result = code_encounter(record, load_codeset())
    except ValidationError as exc:
        raise _fail(_validation_message(exc)) from None
    except DomainError as exc:
        raise _fail(exc.message) from None
    sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    if any(f.severity == "error" for f in result.findings):
        raise typer.Exit(1)


def _counted(lines: Iterable[str], progress: Progress, task: TaskID) -> Iterator[str]:
    consumed = 0
    for number, line in enumerate(lines, start=1):
        consumed += len(line)
        if number % _PROGRESS_EVERY == 0:
            progress.update(task, completed=consumed)
        yield line


class FindingWriter:
    """Streams findings as they are found, then the summary.

    JSON output is one finding object per line, then one ``{"summary": {...}}`` line.
    """

    def __init__(self, out: TextIO, fmt: OutputFormat) -> None:
        self.out = out
        self.fmt = fmt
        self._started = False
        # The encoded severity/rule/message/citation part repeats across many claims.
        self._encoded: dict[tuple[str, str, str], str] = {}

    def _json_line(self, hit: Hit) -> str:
        key = (hit.rule, hit.message, hit.citation)
        middle = self._encoded.get(key)
        if middle is None:
            if len(self._encoded) >= 16_384:
                self._encoded.clear()
            middle = self._encoded[key] = json.dumps(
                {
                    "severity": hit.severity,
                    "rule": hit.rule,
                    "message": hit.message,
                    "citation": hit.citation,
                },
                ensure_ascii=False,
            )[1:-1]
        line = "null" if hit.line is None else str(hit.line)
        claim_id = hit.claim_id
        plain = claim_id.isascii() and claim_id.isprintable()
        if plain and '"' not in claim_id and "\\" not in claim_id:
            claim_id = f'"{claim_id}"'
        else:
            claim_id = json.dumps(claim_id, ensure_ascii=False)
        return f'{{"claim_id": {claim_id}, {middle}, "line": {line}}}\n'

    def hit(self, hit: Hit) -> None:
        if self.fmt is OutputFormat.json:
            self.out.write(self._json_line(hit))
            return
        if not self._started:
            self.out.write(f"{'LINE':>8}  {'CLAIM':<16} {'SEVERITY':<8} {'RULE':<42} MESSAGE\n")
            self._started = True
        line = "" if hit.line is None else str(hit.line)
        self.out.write(
            f"{line:>8}  {hit.claim_id:<16} {hit.severity:<8} {hit.rule:<42} {hit.message}\n"
        )

    def summary(self, summary: AuditSummary, revision: str) -> None:
        data = summary.as_dict(revision)
        if self.fmt is OutputFormat.json:
            self.out.write(json.dumps({"summary": data}, ensure_ascii=False) + "\n")
            return
        self.out.write(
            f"\n{data['lines_read']} lines read, {data['findings']} findings "
            f"({data['by_severity']['error']} errors, {data['by_severity']['warning']} warnings)\n"
        )
        for rule, count in data["by_rule"].items():
            self.out.write(f"  {count:>8}  {rule}\n")


def _open(file: str, stack: ExitStack) -> Iterable[str]:
    if file == "-":
        return sys.stdin
    try:
        return stack.enter_context(Path(file).open(encoding="utf-8", newline=""))
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc}") from None


@coding_app.command("audit")
def audit_command(
    file: Annotated[
        str, typer.Argument(help="Claims as CSV (with header) or JSON lines; - reads stdin.")
    ],
    output: Annotated[
        OutputFormat, typer.Option("--format", help="json: JSON lines then a summary object.")
    ] = OutputFormat.json,
    max_groups: Annotated[
        int, typer.Option(help="Patient+period groups kept for cross-line rules.", min=1)
    ] = DEFAULT_MAX_GROUPS,
    progress: Annotated[
        bool | None, typer.Option("--progress/--no-progress", help="Default: when stderr is a TTY.")
    ] = None,
    policies: Annotated[Path | None, typer.Option(help="Policy directory.")] = None,
) -> None:
    """Audit claim lines for miscoding; exit 1 when any error is found."""
    try:
        codeset = load_codeset(_policy_dir(policies))
    except DomainError as exc:
        raise _fail(exc.message) from None
    auditor = Auditor(codeset, max_groups)
    writer = FindingWriter(sys.stdout, output)
    show = sys.stderr.isatty() if progress is None else progress
    with ExitStack() as stack:
        lines = _open(file, stack)
        if show:
            bar = stack.enter_context(
                Progress(
                    TextColumn("auditing"),
                    BarColumn(),
                    TextColumn("{task.percentage:>3.0f}%"),
                    TimeElapsedColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
            )
            size = Path(file).stat().st_size if file != "-" else None
            lines = _counted(lines, bar, bar.add_task("audit", total=size))
        try:
            for hit in auditor.run(read_claims(lines, file)):
                writer.hit(hit)
        except DomainError as exc:
            sys.stdout.flush()
            raise _fail(exc.message) from None
        except UnicodeDecodeError:
            raise _fail("input is not UTF-8 text") from None
    writer.summary(auditor.summary, codeset.revision)
    if auditor.summary.has_errors:
        raise typer.Exit(1)


@coding_app.command("test")
def cases_command(
    policies: Annotated[Path | None, typer.Option(help="Policy directory.")] = None,
) -> None:
    """Run every *.cases.yaml beside the coding policies."""
    directory = _policy_dir(policies)
    try:
        results = run_all(load_codeset(directory), directory)
    except DomainError as exc:
        raise _fail(exc.message) from None
    failed = [r for r in results if not r.passed]
    for result in failed:
        sys.stdout.write(f"FAIL {result.file}::{result.case_id}: {result.detail}\n")
    sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    if failed:
        raise typer.Exit(1)
