"""Loading, validating and compiling the packs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from telehealth.policy.loader import PolicyError, load_ruleset, validate_packs
from tests.policy.support import POLICIES, copy_policies, ruleset


def _edit(path: Path, change: object) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _overlap(data: dict[str, list[dict[str, object]]]) -> None:
    # A second version of the audio-video flexibility rule that starts before the first ends.
    first = data["rules"][4]
    first["effective_to"] = date(2027, 6, 30)
    data["rules"].append({**first, "id": "dea.next", "effective_from": date(2027, 1, 1)})


def test_repository_packs_are_valid() -> None:
    assert validate_packs() == []


def test_default_directory_is_the_repository_policies() -> None:
    assert ruleset().root == POLICIES


def test_revision_is_stable_and_content_based(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    assert load_ruleset(root).revision == ruleset().revision
    _edit(root / "federal" / "dea.yaml", lambda d: d["rules"][0].update(message="changed"))
    assert load_ruleset(root).revision != ruleset().revision


def test_ruleset_is_immutable() -> None:
    rs = ruleset()
    with pytest.raises(AttributeError):
        rs.revision = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        rs.states["TX"] = {}  # type: ignore[index]


def test_rules_are_bucketed_by_date_and_payer() -> None:
    rs = ruleset()
    ids_2026 = {r.id for r in rs.rules_for(date(2026, 6, 1), "medicare")}
    ids_2028 = {r.id for r in rs.rules_for(date(2028, 6, 1), "medicare")}
    medicaid = {r.id for r in rs.rules_for(date(2026, 6, 1), "medicaid")}
    assert "medicare.sync_av.flexibilities" in ids_2026
    assert "medicare.sync_av.flexibilities" not in ids_2028
    assert "medicare.sync_av.permanent.home" in ids_2028
    assert not any(i.startswith("medicare.") and "demo_flag" not in i for i in medicaid)


def test_state_table_covers_all_jurisdictions() -> None:
    assert len(ruleset().states) == 51


@pytest.mark.parametrize(
    ("pack", "change", "expected"),
    [
        ("federal/dea.yaml", lambda d: d["rules"][0].pop("citation"), "citation"),
        ("federal/dea.yaml", lambda d: d["rules"][0].pop("id"), "id"),
        ("federal/dea.yaml", lambda d: d["rules"][0].pop("effective_from"), "effective_from"),
        ("federal/dea.yaml", lambda d: d["rules"][0].update(confidence="likely"), "confidence"),
        (
            "federal/dea.yaml",
            lambda d: d["rules"][1].update(id=d["rules"][0]["id"]),
            "duplicate rule id",
        ),
        (
            "federal/dea.yaml",
            lambda d: d["rules"][0].update(when={"location_state": "ZZ"}),
            "location_state",
        ),
        (
            "federal/dea.yaml",
            lambda d: d["rules"][0].update(when={"weather": "sunny"}),
            "unknown variable",
        ),
        (
            "federal/dea.yaml",
            lambda d: d["rules"][0].update(effective_to=date(2000, 1, 1)),
            "before effective_from",
        ),
        (
            "federal/dea.yaml",
            lambda d: d["rules"][0]["effects"][0].update(modalities=["telepathy"]),
            "unknown modality",
        ),
        ("federal/dea.yaml", lambda d: _overlap(d), "overlapping effective ranges"),
        ("states/states.yaml", lambda d: d["states"].pop("WY"), "WY"),
        ("states/states.yaml", lambda d: d["states"].update(ZZ=d["states"]["TX"]), "bad state"),
        (
            "states/states.yaml",
            lambda d: d["states"]["TX"]["medicaid_audio_only"].update(value="maybe"),
            "maybe",
        ),
        (
            "states/states.yaml",
            lambda d: d["states"]["TX"]["medicaid_audio_only"].pop("source"),
            "source",
        ),
        # A state with the repeated-telehealth rule must say after how many visits.
        (
            "states/states.yaml",
            lambda d: d["states"]["AL"]["in_person_after_repeat_telehealth"].pop("limit"),
            "needs a 'limit'",
        ),
        # A dated change names the value before it, from the field's values.
        (
            "states/states.yaml",
            lambda d: d["states"]["CO"]["telehealth_registration_for_out_of_state"].pop(
                "before_effective"
            ),
            "effective_from and before_effective together",
        ),
        (
            "states/states.yaml",
            lambda d: d["states"]["CO"]["telehealth_registration_for_out_of_state"].update(
                before_effective="maybe"
            ),
            "maybe",
        ),
        (
            "states/states.yaml",
            lambda d: d["states"]["CO"]["telehealth_registration_for_out_of_state"].update(
                disciplines=["physician", "doctor"]
            ),
            "disciplines",
        ),
    ],
)
def test_invalid_packs_are_reported(
    tmp_path: Path, pack: str, change: object, expected: str
) -> None:
    root = copy_policies(tmp_path)
    _edit(root / pack, change)
    problems = validate_packs(root)
    assert any(expected in p for p in problems), problems
    with pytest.raises(PolicyError):
        load_ruleset(root)


def test_successive_series_versions_may_abut(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)

    def extend(d: dict[str, list[dict[str, object]]]) -> None:
        nxt = {**d["rules"][4], "id": "dea.next", "effective_from": date(2027, 1, 1)}
        nxt["effective_to"] = None
        nxt.pop("sunset", None)
        d["rules"].append(nxt)

    _edit(root / "federal" / "dea.yaml", extend)
    assert validate_packs(root) == []


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    problems = validate_packs(tmp_path)
    assert any("no policy packs" in p for p in problems)
