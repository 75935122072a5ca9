"""Pure rules: questionnaires, transitions, eligibility, routing, file checks."""

from __future__ import annotations

import io
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image

from telehealth.errors import DomainError, ErrorCode
from telehealth.review import media, model
from telehealth.review.model import CaseKind, CaseStatus, MediaKind
from tests.review.support import DERM_ANSWERS, image_with_gps, observation

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
ME, OTHER = uuid.uuid4(), uuid.uuid4()


def _error(fn, *args):  # type: ignore[no-untyped-def]
    with pytest.raises(DomainError) as caught:
        fn(*args)
    return caught.value


def test_answers_validate_against_their_own_version() -> None:
    v2 = model.questionnaire("dermatology_lesion", 2)
    v1 = model.questionnaire("dermatology_lesion", 1)
    assert model.validate_answers(v2, DERM_ANSWERS)["lesion_count"] == 1
    # lesion_count only exists in version 2: the same answers under version 1 are refused.
    error = _error(model.validate_answers, v1, DERM_ANSWERS)
    assert error.code is ErrorCode.INVALID_INPUT
    assert error.data["field"] == "answers.lesion_count"
    v1_answers = {k: v for k, v in DERM_ANSWERS.items() if k != "lesion_count"}
    assert model.validate_answers(v1, v1_answers)["body_site"] == "arm"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("body_site", "elbow"),
        ("changed", "yes"),
        ("symptoms", []),
        ("symptoms", ["itch", "itch"]),
        ("lesion_count", 0),
        ("lesion_count", True),
        ("change_details", "   "),
    ],
)
def test_bad_answers_name_the_question(key: str, value: object) -> None:
    form = model.questionnaire("dermatology_lesion", 2)
    error = _error(model.validate_answers, form, {**DERM_ANSWERS, key: value})
    assert error.data["field"] == f"answers.{key}"


def test_required_answers_and_unknown_versions() -> None:
    form = model.questionnaire("general_intake", 1)
    assert _error(model.validate_answers, form, {}).data["field"] == "answers.chief_complaint"
    assert _error(model.questionnaire, "dermatology_lesion", 9).code is ErrorCode.INVALID_INPUT
    assert model.questionnaire_fits("dermatology", "general_intake")
    assert not model.questionnaire_fits("radiology", "dermatology_lesion")


def test_one_reviewer_at_a_time_and_claims_lapse() -> None:
    model.check_claimable(CaseStatus.QUEUED, None, None, ME, NOW)
    live = NOW + timedelta(minutes=5)
    assert (
        _error(model.check_claimable, CaseStatus.CLAIMED, OTHER, live, ME, NOW).code
        is ErrorCode.CONFLICT
    )
    model.check_claimable(CaseStatus.CLAIMED, OTHER, NOW - timedelta(seconds=1), ME, NOW)
    assert (
        _error(model.check_claimable, CaseStatus.REPORTED, None, None, ME, NOW).code
        is ErrorCode.INVALID_STATE
    )
    model.check_holder(CaseStatus.CLAIMED, ME, live, ME, NOW)
    lapsed = _error(model.check_holder, CaseStatus.CLAIMED, ME, NOW, ME, NOW)
    assert lapsed.code is ErrorCode.CONFLICT


def test_only_licensed_clinicians_of_the_specialty_may_review() -> None:
    licenses = [
        model.LicenseFact("TX", "full", None),
        model.LicenseFact("NY", "full", date(2026, 1, 1)),
    ]
    today = NOW.date()
    assert model.may_review(["dermatology"], licenses, "dermatology", "TX", today)
    assert not model.may_review(["radiology"], licenses, "dermatology", "TX", today)
    assert not model.may_review(["dermatology"], licenses, "dermatology", "NY", today)  # expired
    assert not model.may_review(["dermatology"], licenses, "dermatology", "CA", today)


def _decision(status: str, prescribing: str | None = None) -> dict[str, object]:
    reason = {"rule": "r1", "message": "why", "citation": "cite"}
    modalities = {
        m: {"status": "allowed", "reasons": []} for m in ("async_store_and_forward", "econsult")
    }
    modalities["async_store_and_forward"] = {"status": status, "reasons": [reason]}
    return {
        "modalities": modalities,
        "prescribing": {"async_store_and_forward": prescribing} if prescribing else None,
    }


def test_routing_follows_the_decision() -> None:
    assert not model.route(_decision("allowed"), CaseKind.SELF_REFERRAL, False).live_visit
    assert not model.route(_decision("discouraged"), CaseKind.SELF_REFERRAL, False).live_visit
    refused = model.route(_decision("not_allowed"), CaseKind.SELF_REFERRAL, False)
    assert refused.live_visit
    assert refused.reasons[0]["rule"] == "r1"
    assert model.route(
        _decision("allowed", "not_permitted"), CaseKind.SELF_REFERRAL, True
    ).live_visit
    assert not model.route(
        _decision("allowed", "permitted"), CaseKind.SELF_REFERRAL, True
    ).live_visit


def test_diagnosis_codes_are_icd10() -> None:
    assert model.check_diagnosis_codes(["d22.5", "L57.0"]) == ["D22.5", "L57.0"]
    assert _error(model.check_diagnosis_codes, ["99213"]).data["field"] == "diagnosis_codes.0"
    assert _error(model.check_diagnosis_codes, ["D22.5", "D22.5"]).code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\x\\photo.jpg", "photo.jpg"),
        ("a\u202egpj.exe", "agpj.exe"),
        ("x\x00.jpg", "x.jpg"),
        ("", "upload"),
        ('"><script>.png', "_script_.png"),
    ],
)
def test_file_names_are_display_text_only(raw: str, expected: str) -> None:
    assert model.safe_filename(raw, "upload") == expected


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0" + bytes(12), MediaKind.IMAGE),
        (b"\x89PNG\r\n\x1a\n" + bytes(8), MediaKind.IMAGE),
        (b"%PDF-1.7\n" + bytes(7), MediaKind.DOCUMENT),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(4), MediaKind.VIDEO),
        (b'  {"resourceType"', MediaKind.OBSERVATION),
    ],
)
def test_type_comes_from_the_bytes(head: bytes, kind: MediaKind) -> None:
    assert media.sniff(head).kind is kind


@pytest.mark.parametrize(
    "head",
    [
        b"<svg onload=x>   ",
        b"<html><script>   ",
        b"MZ\x90\x00" * 4,
        b"PK\x03\x04" * 4,
        b"GIF89a" + bytes(10),
    ],
)
def test_other_types_are_refused(head: bytes) -> None:
    assert _error(media.sniff, head).code is ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_declared_types_outside_the_list_are_refused() -> None:
    assert media.declared_type("image/png") == "image/png"
    assert media.declared_type("application/json; charset=utf-8") == "application/fhir+json"
    assert media.declared_type(None) is None
    assert _error(media.declared_type, "text/html").code is ErrorCode.UNSUPPORTED_MEDIA_TYPE


def test_content_must_be_of_the_declared_type_not_only_its_kind() -> None:
    jpeg = media.sniff(b"\xff\xd8\xff\xe0" + bytes(12))
    media.check_declared(jpeg, "image/jpeg", "image")
    media.check_declared(jpeg, None, "image")  # an upload opened before types were kept
    media.check_declared(jpeg, None, None)
    refused = _error(media.check_declared, jpeg, "image/png", "image")
    assert refused.code is ErrorCode.UNSUPPORTED_MEDIA_TYPE
    assert _error(media.check_declared, jpeg, None, "document").code is refused.code


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_lab_results_with_non_json_numbers_are_refused(constant: str) -> None:
    doc = (
        '{"resourceType": "Observation", "status": "final", "code": {"text": "Hb"}, '
        f'"valueQuantity": {{"value": {constant}}}}}'
    )
    assert _error(media.check_observation, doc.encode()).code is ErrorCode.INVALID_INPUT


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg"), ("PNG", "image/png")])
def test_reencoding_strips_exif_and_gps(fmt: str, content_type: str) -> None:
    original = image_with_gps(fmt)
    assert b"CanaryExifDescription" in original
    clean = media.reencode_image(original, content_type, 1_000_000)
    assert b"CanaryExifDescription" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert image.size == (64, 48)
        assert not image.getexif()
        assert image.getexif().get_ifd(0x8825) == {}


def test_pixel_floods_and_corrupt_images_are_refused() -> None:
    big = io.BytesIO()
    Image.new("1", (5000, 5000)).save(big, format="PNG")  # 25 Mpx in a few KiB
    flood = _error(media.reencode_image, big.getvalue(), "image/png", 1_000_000)
    assert "pixels" in flood.message
    corrupt = image_with_gps("JPEG")[:200]
    assert (
        _error(media.reencode_image, corrupt, "image/jpeg", 1_000_000).code
        is ErrorCode.INVALID_INPUT
    )
    not_png = _error(media.reencode_image, image_with_gps("JPEG"), "image/png", 1_000_000)
    assert not_png.code is ErrorCode.INVALID_INPUT


def test_lab_results_must_be_fhir_observations() -> None:
    media.check_observation(observation())
    for bad in (
        observation(resourceType="Patient"),
        observation(status="done"),
        observation(code={}),
        b"{not json",
        b"[" * 100_000,
    ):
        assert _error(media.check_observation, bad).code is ErrorCode.INVALID_INPUT
