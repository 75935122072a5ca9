"""Pure rules: slots across daylight-saving changes, join tokens, TURN credentials, the
DTLS-SRTP check, signaling message parsing, and modality segments."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from telehealth.errors import DomainError, ErrorCode
from telehealth.visits import model
from tests.visits.test_signaling import NO_FINGERPRINT, SDES_OFFER, SECURE_OFFER

CHICAGO = "America/Chicago"


def _monday(window_start: time = time(9, 0), end: time = time(10, 0)) -> model.WeeklyWindow:
    return model.WeeklyWindow(CHICAGO, 0, window_start, end, 30)


def test_slots_keep_local_hours_across_the_spring_change() -> None:
    window = _monday()
    before = list(window.slots(datetime(2027, 3, 8, tzinfo=UTC), datetime(2027, 3, 9, tzinfo=UTC)))
    after = list(window.slots(datetime(2027, 3, 15, tzinfo=UTC), datetime(2027, 3, 16, tzinfo=UTC)))
    assert before == [
        datetime(2027, 3, 8, 15, 0, tzinfo=UTC),
        datetime(2027, 3, 8, 15, 30, tzinfo=UTC),
    ]
    assert after == [
        datetime(2027, 3, 15, 14, 0, tzinfo=UTC),
        datetime(2027, 3, 15, 14, 30, tzinfo=UTC),
    ]


def test_wall_times_skipped_by_the_change_are_no_slots() -> None:
    sunday_night = model.WeeklyWindow(CHICAGO, 6, time(2, 0), time(3, 0), 30)
    gap = list(
        sunday_night.slots(datetime(2027, 3, 14, tzinfo=UTC), datetime(2027, 3, 15, tzinfo=UTC))
    )
    assert gap == []


def test_open_slots_leave_out_taken_ones() -> None:
    start = datetime(2027, 3, 8, tzinfo=UTC)
    taken = [datetime(2027, 3, 8, 15, 0, tzinfo=UTC)]
    free = model.open_slots([_monday()], start, start + timedelta(days=1), taken)
    assert free == [(datetime(2027, 3, 8, 15, 30, tzinfo=UTC), 30)]
    assert _monday().offers(datetime(2027, 3, 8, 15, 30, tzinfo=UTC))
    assert not _monday().offers(datetime(2027, 3, 8, 15, 10, tzinfo=UTC))


def test_window_validation() -> None:
    with pytest.raises(DomainError):
        model.WeeklyWindow("Nowhere/Town", 0, time(9), time(10), 30).validate()
    with pytest.raises(DomainError):
        model.WeeklyWindow(CHICAGO, 0, time(10), time(9), 30).validate()


def test_join_tokens_have_256_random_bits_and_are_stored_only_as_digests() -> None:
    tokens = [model.new_join_token() for _ in range(10_000)]
    raw = {t for t, _ in tokens}
    assert len(raw) == 10_000
    token, digest = tokens[0]
    assert digest == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in digest
    # 32 random bytes in url-safe base64 is 43 characters after the prefix.
    assert len(token.removeprefix("thv_")) == 43
    assert model.plausible_token(token)
    assert not model.plausible_token("thv_" + "x" * 200)


def test_turn_credentials_follow_the_rest_api_scheme() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    username, credential = model.turn_credentials("s3cret", "p1", now, timedelta(minutes=60))
    assert username == f"{int(now.timestamp()) + 3600}:p1"
    expected = hmac.new(b"s3cret", username.encode(), hashlib.sha1).digest()
    assert base64.b64decode(credential) == expected


@pytest.mark.parametrize(
    "sdp",
    [SDES_OFFER, NO_FINGERPRINT, "", "hello", SECURE_OFFER.replace("UDP/TLS/RTP/SAVPF", "RTP/AVP")],
)
def test_insecure_descriptions_are_refused(sdp: str) -> None:
    with pytest.raises(DomainError) as refused:
        model.check_sdp(sdp)
    assert refused.value.code is ErrorCode.INVALID_INPUT


def test_secure_description_passes_and_a_rejected_section_needs_no_fingerprint() -> None:
    model.check_sdp(SECURE_OFFER)
    session_level = SECURE_OFFER.replace("t=0 0\r\n", "t=0 0\r\n" + "a=fingerprint:sha-256 AA\r\n")
    model.check_sdp(session_level.replace("a=fingerprint:sha-256 AB", "a=x"))
    rejected = SECURE_OFFER + "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
    model.check_sdp(rejected)


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300),
        st.dictionaries(
            st.text(max_size=10),
            st.one_of(st.none(), st.integers(), st.text(max_size=20), st.booleans()),
            max_size=5,
        ).map(json.dumps),
    )
)
def test_signal_parser_never_crashes(raw: str | bytes) -> None:
    try:
        signal = model.parse_signal(raw)
    except DomainError:
        return
    assert signal.kind in model.CLIENT_KINDS


def test_stats_are_reduced_to_counters() -> None:
    signal = model.parse_signal(
        '{"type": "stats", "video_sending": 1, "video_frames_sent": -3,'
        ' "video_frames_decoded": 12.7, "extra": "x"}'
    )
    assert signal.body == {
        "video_sending": True,
        "video_frames_sent": 0,
        "video_frames_decoded": 12,
    }


def test_media_states_are_exactly_three_booleans() -> None:
    signal = model.parse_signal('{"type": "media", "to": "p1", "audio": false, "video": true}')
    assert (signal.to, signal.body) == ("p1", {"audio": False, "video": True, "screen": False})
    for raw in (
        '{"type": "media", "audio": false}',
        '{"type": "media", "audio": 0, "video": true}',
        '{"type": "media", "audio": true, "video": true, "screen": "yes"}',
        '{"type": "media", "audio": true, "video": true, "role": "clinician"}',
    ):
        with pytest.raises(DomainError):
            model.parse_signal(raw)


def test_segments_fold_changes_and_close_at_the_end() -> None:
    t0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    changes = [
        model.ModalityChange(t0, model.AUDIO_VIDEO),
        model.ModalityChange(t0 + timedelta(minutes=5), model.AUDIO_VIDEO),
        model.ModalityChange(t0 + timedelta(minutes=10), model.AUDIO_ONLY),
    ]
    segs = model.segments(changes, t0 + timedelta(minutes=30))
    assert [(s.modality, s.start, s.end) for s in segs] == [
        (model.AUDIO_VIDEO, t0, t0 + timedelta(minutes=10)),
        (model.AUDIO_ONLY, t0 + timedelta(minutes=10), t0 + timedelta(minutes=30)),
    ]
    assert model.segments(changes, None)[-1].end is None


def test_video_needs_both_sides_and_moving_frame_counters() -> None:
    assert model.visit_modality({"patient": True, "clinician": True}) == model.AUDIO_VIDEO
    assert model.visit_modality({"patient": False, "clinician": True}) == model.AUDIO_ONLY
    assert model.video_flowing(None, 10, True)
    assert not model.video_flowing(10, 10, True)
    assert not model.video_flowing(10, 50, False)


def test_queue_position_is_by_arrival() -> None:
    t0 = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    waiting = {"b": t0 + timedelta(seconds=5), "a": t0}
    assert model.queue_position(waiting, "a") == 1
    assert model.queue_position(waiting, "b") == 2
    assert model.queue_position(waiting, "c") is None


def test_note_lateness() -> None:
    end = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    window = timedelta(hours=24)
    assert not model.signed_late(end, end + timedelta(hours=23), window)
    assert model.signed_late(end, end + timedelta(hours=25), window)
    assert not model.signed_late(None, end, window)


def _mark(who: str, kind: model.PresenceKind, minute: int) -> model.PresenceMark:
    at = datetime(2026, 6, 1, 15, tzinfo=UTC) + timedelta(minutes=minute)
    return model.PresenceMark(who, who, kind, at)


def test_two_way_media_needs_patient_and_clinician_in_the_call_together() -> None:
    join, leave, admit = model.PresenceKind.JOIN, model.PresenceKind.LEAVE, model.PresenceKind.ADMIT
    end = datetime(2026, 6, 1, 16, tzinfo=UTC)
    together = [
        _mark("clinician", admit, 0),
        _mark("clinician", join, 0),
        _mark("patient", join, 1),
        _mark("patient", admit, 2),
    ]
    assert model.two_way_media(together, [], end)
    # Admitted but never connected; connected one after the other; a moment is no call.
    assert not model.two_way_media([*together[:2], _mark("patient", admit, 2)], [], end)
    apart = [*together[:2], _mark("clinician", leave, 1), *together[2:]]
    assert not model.two_way_media(apart, [], end)
    assert not model.two_way_media(together, [], together[-1].at)
    # Video both ways proves it by itself.
    video = model.Segment(model.AUDIO_VIDEO, end - timedelta(minutes=5), end)
    assert model.two_way_media([], [video], end)


def test_two_way_media_holds_across_a_rejoin() -> None:
    """A reload is a leave and a join; a network change may open the new socket before the old
    one closes. Either way the participant is in the call from the new socket on."""
    join, leave, admit = model.PresenceKind.JOIN, model.PresenceKind.LEAVE, model.PresenceKind.ADMIT
    end = datetime(2026, 6, 1, 16, tzinfo=UTC)
    host = [_mark("clinician", admit, 0), _mark("clinician", join, 0), _mark("patient", admit, 1)]
    # The patient's first socket is gone before anyone was together; only the rejoin overlaps.
    gap = [*host, _mark("patient", join, 1), _mark("patient", leave, 1), _mark("patient", join, 2)]
    assert model.two_way_media(gap, [], end)
    assert not model.two_way_media(gap[:-1], [], end)
    overlapping = [*host, _mark("patient", join, 1), _mark("patient", join, 1)]
    assert model.two_way_media([*overlapping, _mark("patient", leave, 1)], [], end)
