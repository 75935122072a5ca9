"""The FHIR search vocabulary (pure): date prefixes and precision, tokens, references, the
handling of unknown parameters, paging links."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from telehealth.errors import DomainError
from telehealth.fhir.model import (
    DateRange,
    Handling,
    Search,
    handling,
    instant,
    parse_date,
    parse_reference,
    parse_search,
    parse_token,
    searchset,
)


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("value", "start", "end"),
    [
        ("2026", at(2026, 1, 1), at(2027, 1, 1)),
        ("2026-12", at(2026, 12, 1), at(2027, 1, 1)),
        ("2026-02", at(2026, 2, 1), at(2026, 3, 1)),
        ("2026-03-05", at(2026, 3, 5), at(2026, 3, 6)),
        ("2026-03-05T10:00:00Z", at(2026, 3, 5, 10), at(2026, 3, 5, 10, 0, 1)),
        ("2026-03-05T05:00:00-05:00", at(2026, 3, 5, 10), at(2026, 3, 5, 10, 0, 1)),
        ("ge2026-03-05", at(2026, 3, 5), None),
        ("gt2026-03-05", at(2026, 3, 6), None),
        ("sa2026-03", at(2026, 4, 1), None),
        ("le2026-03-05", None, at(2026, 3, 6)),
        ("lt2026-03-05", None, at(2026, 3, 5)),
        ("eb2026", None, at(2026, 1, 1)),
        ("eq2026-03-05", at(2026, 3, 5), at(2026, 3, 6)),
    ],
)
def test_a_date_value_admits_the_range_its_prefix_and_precision_say(
    value: str, start: datetime | None, end: datetime | None
) -> None:
    assert parse_date(value) == DateRange(start, end)


@pytest.mark.parametrize(
    "value", ["yesterday", "2026-13", "ne2026", "2026-03-05T10:00:00", "ap2026"]
)
def test_dates_this_server_cannot_read_are_refused(value: str) -> None:
    with pytest.raises(DomainError):
        parse_date(value)


def test_a_range_admits_its_start_but_not_its_end() -> None:
    day = parse_date("2026-03-05")
    assert day.admits(at(2026, 3, 5))
    assert day.admits(at(2026, 3, 5, 23, 59, 59))
    assert not day.admits(at(2026, 3, 6))
    assert not day.admits(at(2026, 3, 4, 23, 59, 59))


def test_tokens_match_by_system_and_code() -> None:
    assert parse_token("http://loinc.org|8867-4").matches("http://loinc.org", "8867-4")
    assert not parse_token("http://loinc.org|8867-4").matches("urn:other", "8867-4")
    assert parse_token("8867-4").matches("urn:any", "8867-4")
    assert parse_token("|8867-4").matches(None, "8867-4")
    assert not parse_token("|8867-4").matches("http://loinc.org", "8867-4")
    assert parse_token("http://loinc.org|").matches("http://loinc.org", "anything")


def test_references_name_an_id_of_their_type_only() -> None:
    known = uuid.uuid4()
    assert parse_reference(f"Patient/{known}", "Patient", "patient") == known
    assert parse_reference(str(known), "Patient", "patient") == known
    assert parse_reference(f"https://x.test/fhir/R4/Patient/{known}", "Patient", "p") == known
    assert parse_reference(f"Group/{known}", "Patient", "patient") is None
    assert parse_reference("Patient/123", "Patient", "patient") is None


def test_unknown_parameters_are_ignored_unless_strict() -> None:
    query = [("family", "Smi"), ("colour", "blue"), ("_count", "5")]
    lenient = parse_search(query, frozenset({"family"}), frozenset(), frozenset(), Handling.LENIENT)
    assert dict(lenient.params) == {"family": ["Smi"]}
    assert lenient.ignored == ("colour",)
    assert lenient.count == 5
    with pytest.raises(DomainError):
        parse_search(query, frozenset({"family"}), frozenset(), frozenset(), Handling.STRICT)


@pytest.mark.parametrize(
    ("header", "mode"),
    [
        (None, Handling.LENIENT),
        ("handling=strict", Handling.STRICT),
        ("return=minimal; handling=strict", Handling.STRICT),
        ("handling=lenient", Handling.LENIENT),
    ],
)
def test_the_prefer_header_chooses_the_handling(header: str | None, mode: Handling) -> None:
    assert handling(header) is mode


@pytest.mark.parametrize("value", ["-1", "201", "many"])
def test_counts_out_of_range_are_refused(value: str) -> None:
    with pytest.raises(DomainError):
        parse_search([("_count", value)], frozenset(), frozenset(), frozenset(), Handling.LENIENT)


def test_sorting_by_an_unsupported_parameter_is_refused() -> None:
    with pytest.raises(DomainError):
        parse_search(
            [("_sort", "colour")], frozenset(), frozenset({"date"}), frozenset(), Handling.LENIENT
        )
    ok = parse_search(
        [("_sort", "-date")], frozenset(), frozenset({"date"}), frozenset(), Handling.LENIENT
    )
    assert ok.sort == ("-date",)


def test_a_page_links_to_the_next_and_previous_with_the_same_parameters() -> None:
    search = Search({"family": ["Smi"]}, count=10, offset=10)
    bundle = searchset("https://x.test/fhir/R4", "Patient", search, [], [], None, more=True)
    links = {link["relation"]: link["url"] for link in bundle["link"]}
    assert links["self"].endswith("Patient?family=Smi&_count=10&_offset=10")
    assert links["next"].endswith("_offset=20")
    assert links["previous"].endswith("_offset=0")
    last = searchset("https://x.test/fhir/R4", "Patient", Search({}, count=10), [], [], 3, False)
    assert [link["relation"] for link in last["link"]] == ["self"]
    assert last["total"] == 3


def test_instants_are_utc_with_z() -> None:
    assert instant(at(2026, 3, 5, 10)) == "2026-03-05T10:00:00Z"
    with pytest.raises(ValueError, match="aware"):
        instant(datetime(2026, 3, 5))  # noqa: DTZ001 - the point of the test
