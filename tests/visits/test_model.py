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


def _at(seconds: int) -> datetime:
    return datetime(2026, 6, 1, 18, 2, tzinfo=UTC) + timedelta(seconds=seconds)


def _socket(who: str, kind: model.PresenceKind, second: int, conn: str) -> model.PresenceMark:
    return model.PresenceMark(who, who, kind, _at(second), conn)


JOIN, LEAVE = model.PresenceKind.JOIN, model.PresenceKind.LEAVE


def test_a_socket_lost_with_its_instance_leaves_a_gap_until_the_next_join() -> None:
    """The leave of a socket whose instance died is written late, at its last heartbeat: it
    sorts where it happened, and the gap runs from it to the new socket's join."""
    marks = [
        _socket("clinician", JOIN, 0, "h1"),
        _socket("patient", JOIN, 0, "p1"),
        _socket("patient", JOIN, 31, "p2"),
        _socket("patient", LEAVE, 10, "p1"),  # written after p2 joined
    ]
    [gap] = model.presence_gaps(marks)
    assert (gap.participant, gap.role) == ("patient", "patient")
    assert (gap.start, gap.end) == (_at(10), _at(31))
    assert gap.seconds == 21
    # Without the leave, the first socket counts as open throughout: no gap.
    assert model.presence_gaps(marks[:3]) == []


def test_overlapping_sockets_leave_no_gap() -> None:
    """A new tab or network opens its socket before the old one closes."""
    marks = [
        _socket("patient", JOIN, 0, "p1"),
        _socket("patient", JOIN, 5, "p2"),
        _socket("patient", LEAVE, 6, "p1"),
        _socket("patient", LEAVE, 40, "p2"),  # the end of the visit is not a gap
    ]
    assert model.presence_gaps(marks) == []
    # Closing both, then a third socket: the gap starts when the last one closed.
    later = [*marks, _socket("patient", JOIN, 50, "p3")]
    assert [(g.start, g.end) for g in model.presence_gaps(later)] == [(_at(40), _at(50))]


def test_gaps_are_per_participant_and_a_handover_at_one_instant_is_none() -> None:
    marks = [
        _socket("patient", JOIN, 0, "p1"),
        _socket("clinician", JOIN, 0, "h1"),
        _socket("clinician", LEAVE, 3, "h1"),
        _socket("patient", LEAVE, 7, "p1"),
        _socket("patient", JOIN, 7, "p2"),
        _socket("clinician", JOIN, 9, "h2"),
    ]
    assert [(g.participant, g.seconds) for g in model.presence_gaps(marks)] == [("clinician", 6)]
    # A socket's own leave and join at one instant (in either order) still closes it.
    same = [_socket("patient", LEAVE, 0, "p1"), _socket("patient", JOIN, 0, "p1")]
    assert [g.start for g in model.presence_gaps([*same, _socket("patient", JOIN, 4, "p2")])] == [
        _at(0)
    ]


def test_gaps_of_records_without_socket_names_count_joins_and_leaves() -> None:
    """Records written before sockets were named: a leave closes one of the open sockets."""
    unnamed = [
        model.PresenceMark("patient", "patient", JOIN, _at(0)),
        model.PresenceMark("patient", "patient", JOIN, _at(1)),
        model.PresenceMark("patient", "patient", LEAVE, _at(2)),
        model.PresenceMark("patient", "patient", LEAVE, _at(3)),
        model.PresenceMark("patient", "patient", JOIN, _at(8)),
    ]
    assert [(g.start, g.end) for g in model.presence_gaps(unnamed)] == [(_at(3), _at(8))]
    # Admissions and removals are not sockets.
    admitted = [model.PresenceMark("patient", "patient", model.PresenceKind.ADMIT, _at(5))]
    assert model.presence_gaps([*unnamed[:4], *admitted]) == []


def test_two_way_media_follows_named_sockets() -> None:
    """The patient's lost socket closed at its last heartbeat: the call is not two-way over the
    gap, and is again from the new socket on."""
    admit = model.PresenceKind.ADMIT
    end = _at(600)
    marks = [
        model.PresenceMark("clinician", "clinician", admit, _at(0)),
        _socket("clinician", JOIN, 0, "h1"),
        model.PresenceMark("patient", "patient", admit, _at(0)),
        _socket("patient", JOIN, 100, "p1"),
        _socket("patient", LEAVE, 100, "p1"),
    ]
    assert not model.two_way_media(marks, [], end)
    assert model.two_way_media([*marks, _socket("patient", JOIN, 300, "p2")], [], end)
