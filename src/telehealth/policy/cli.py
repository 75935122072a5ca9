"""Command-line surface: ``telehealth policy test|validate`` and ``telehealth decide FILE``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from telehealth.errors import DomainError
from telehealth.policy.cases import run_all
from telehealth.policy.engine import decide
from telehealth.policy.loader import PolicyError, load_ruleset, validate_packs

policy_app = typer.Typer(
    name="policy",
    help="Modality rule packs: run their cases and validate them.",
    no_args_is_help=True,
)

PoliciesOption = Annotated[
    Path | None,
    typer.Option("--policies", help="Policy directory (default: the repository's policies/)."),
]


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(code)


@policy_app.command("test")
def run_cases_command(
    policies: PoliciesOption = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="List every case.")] = False,
) -> None:
    """Run every case file; exit 1 if any case fails."""
    try:
        ruleset = load_ruleset(policies)
    except PolicyError as exc:
        raise _fail("\n".join(exc.problems), 1) from exc
    results, problems = run_all(ruleset)
    for problem in problems:
        typer.echo(f"ERROR {problem}", err=True)
    failed = [r for r in results if not r.passed]
    for result in results:
        if verbose or not result.passed:
            typer.echo(f"{'ok  ' if result.passed else 'FAIL'} {result.case.id}")
        for failure in result.failures:
            typer.echo(f"       {failure}")
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed or problems:
        raise typer.Exit(1)


@policy_app.command("validate")
def validate_command(policies: PoliciesOption = None) -> None:
    """Check the packs (ids, citations, dates, states, overlaps); exit 1 on any problem."""
    problems = validate_packs(policies)
    if problems:
        for problem in problems:
            typer.echo(problem, err=True)
        raise _fail(f"{len(problems)} problem(s) found", 1)
    ruleset = load_ruleset(policies)
    typer.echo(f"ok: {len(ruleset.rules)} rules, revision {ruleset.revision}")


def _read_document(file: str) -> str:
    if file == "-":
        return sys.stdin.read()
    return Path(file).read_text(encoding="utf-8")


def decide_command(
    file: Annotated[str, typer.Argument(help="Facts JSON file, or '-' for standard input.")],
) -> None:
    """Decide the modalities for the facts in FILE and print the decision as JSON."""
    try:
        data = json.loads(_read_document(file))
    except OSError as exc:
        raise _fail(f"{file}: cannot read: {exc.strerror}", 2) from exc
    except json.JSONDecodeError as exc:
        raise _fail(f"{file}: not valid JSON: {exc}", 2) from exc
    try:
        ruleset = load_ruleset()
    except PolicyError as exc:
        raise _fail("\n".join(exc.problems), 1) from exc
    try:
        decision = decide(data, ruleset)
    except DomainError as exc:
        raise _fail(exc.message, 2) from exc
    typer.echo(decision.model_dump_json(indent=2))
