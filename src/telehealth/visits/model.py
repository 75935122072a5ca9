"""Pure rules of synchronous visits: slots in a clinician's time zone, participant states,
join tokens, TURN credentials, DTLS-SRTP checks on SDP, signaling messages, and the modality
actually used over a session.

Nothing here touches the database, the web framework or the settings.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import unicodedata
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from telehealth.errors import DomainError, ErrorCode
from telehealth.vocabulary import Modality

# --- vocabulary -----------------------------------------------------------------------------


class VisitStatus(StrEnum):
    BOOKED = "booked"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class ParticipantRole(StrEnum):
    PATIENT = "patient"
    CLINICIAN = "clinician"
    INTERPRETER = "interpreter"
    CAREGIVER = "caregiver"
    SECOND_CLINICIAN = "second_clinician"


# Roles the clinician may invite; the patient and the visit's clinician exist from booking.
GUEST_ROLES = frozenset(
    {ParticipantRole.INTERPRETER, ParticipantRole.CAREGIVER, ParticipantRole.SECOND_CLINICIAN}
)


class ParticipantState(StrEnum):
    INVITED = "invited"
    WAITING = "waiting"
    ADMITTED = "admitted"
    REMOVED = "removed"


class PresenceKind(StrEnum):
    JOIN = "join"
    LEAVE = "leave"
    ADMIT = "admit"
    REMOVE = "remove"


class ConsentMethod(StrEnum):
    WRITTEN = "written"
    VERBAL = "verbal"


AUDIO_VIDEO: Modality = "sync_audio_video"
AUDIO_ONLY: Modality = "sync_audio_only"
OPEN_STATUSES = frozenset({VisitStatus.BOOKED, VisitStatus.IN_PROGRESS})


@dataclass(frozen=True, slots=True)
class VisitFilter:
    """Narrows a visit list (the FHIR Appointment, Encounter and ChargeItem searches): each
    field set must hold. Slot, start and end times are half-open ranges (``from <= t <
    before``); ``by_start`` orders by the session's start instead of the slot, ``by_end`` by
    its end, ``newest_first`` reverses the order."""

    ids: Sequence[uuid.UUID] | None = None
    patient_ids: Sequence[uuid.UUID] | None = None
    clinician_ids: Sequence[uuid.UUID] | None = None
    statuses: Sequence[str] | None = None
    slot_from: datetime | None = None
    slot_before: datetime | None = None
    started_from: datetime | None = None
    started_before: datetime | None = None
    # Ended visits with their coding (billing lines), by when they ended (the FHIR ChargeItem).
    coded: bool = False
    ended_from: datetime | None = None
    ended_before: datetime | None = None
    by_start: bool = False
    by_end: bool = False
    newest_first: bool = False


def check_transition(current: VisitStatus, wanted: VisitStatus) -> None:
    allowed = {
        VisitStatus.BOOKED: {VisitStatus.IN_PROGRESS, VisitStatus.CANCELLED},
        VisitStatus.IN_PROGRESS: {VisitStatus.COMPLETED},
        VisitStatus.COMPLETED: set(),
        VisitStatus.CANCELLED: set(),
    }
    if wanted not in allowed[current]:
        raise DomainError(
            ErrorCode.INVALID_STATE, f"a {current.value} visit cannot become {wanted.value}"
        )


# --- availability and slots -----------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """An IANA time zone, or INVALID_INPUT."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DomainError(
            ErrorCode.INVALID_INPUT, "time_zone must be an IANA time zone name", field="time_zone"
        ) from exc


def same_day_or_before(at: datetime, now: datetime, time_zone: str) -> bool:
    """Whether ``at`` falls on ``now``'s day or earlier, as a clock in ``time_zone`` reads
    them: a clinician's day is the one in their own time zone, whose midnight is not UTC's."""
    tz = zone(time_zone)
    return at.astimezone(tz).date() <= now.astimezone(tz).date()


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Recurring hours on one weekday (0 = Monday) in the clinician's own time zone."""

    time_zone: str
    weekday: int
    start: time
    end: time
    slot_minutes: int

    def validate(self) -> None:
        zone(self.time_zone)
        if not 0 <= self.weekday <= 6:
            raise DomainError(ErrorCode.INVALID_INPUT, "weekday must be 0-6", field="weekday")
        if not 5 <= self.slot_minutes <= 240:
            raise DomainError(
                ErrorCode.INVALID_INPUT, "slot_minutes must be 5-240", field="slot_minutes"
            )
        if self.end <= self.start:
            raise DomainError(ErrorCode.INVALID_INPUT, "end must be after start", field="end")

    def slots(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Slot starts (aware UTC) in [start, end), walking local calendar days.

        A window keeps its local hours across daylight-saving changes; a wall time skipped by a
        spring-forward gap is no slot at all. Wall times are converted one by one only on a day
        whose window a clock change touches; on any other day, by the day's one offset.
        """
        tz = zone(self.time_zone)
        day = start.astimezone(tz).date() - timedelta(days=1)
        last = end.astimezone(tz).date() + timedelta(days=1)
        while day <= last:
            if day.weekday() == self.weekday:
                yield from (s for s in self._day_slots(day, tz) if start <= s < end)
            day += timedelta(days=1)

    def _day_slots(self, day: date, tz: ZoneInfo) -> Iterator[datetime]:
        step = timedelta(minutes=self.slot_minutes)
        cursor = datetime.combine(day, self.start)
        stop = datetime.combine(day, self.end)
        offsets = {
            moment.replace(tzinfo=tz, fold=fold).utcoffset()
            for moment in (cursor, stop)
            for fold in (0, 1)
        }
        if len(offsets) == 1 and (first := offsets.pop()) is not None:
            # One offset at both ends of the window, either side of a fold: neither end is in a
            # gap or an overlap and no clock change falls inside (zones change at most once a
            # day), so every wall time exists and is that offset from UTC. One conversion for
            # the day instead of three per slot.
            slot = (cursor - first).replace(tzinfo=UTC)
            while cursor + step <= stop:
                yield slot
                slot += step
                cursor += step
            return
        while cursor + step <= stop:
            local = cursor.replace(tzinfo=tz)
            if _exists(local):
                yield local.astimezone(UTC)
            cursor += step

    def offers(self, slot_start: datetime) -> bool:
        moment = slot_start.astimezone(UTC)
        return moment in set(
            self.slots(moment - timedelta(minutes=1), moment + timedelta(minutes=1))
        )


def _exists(local: datetime) -> bool:
    # A wall time inside a spring-forward gap does not survive a round trip through UTC.
    round_trip = local.astimezone(UTC).astimezone(local.tzinfo)
    return round_trip.replace(tzinfo=None) == local.replace(tzinfo=None)


def open_slots(
    windows: Iterable[WeeklyWindow], start: datetime, end: datetime, taken: Iterable[datetime]
) -> list[tuple[datetime, int]]:
    """Free (slot start, minutes) pairs over every window, in time order, without duplicates."""
    busy = {t.astimezone(UTC) for t in taken}
    found: dict[datetime, int] = {}
    for window in windows:
        for slot in window.slots(start, end):
            if slot not in busy:
                found.setdefault(slot, window.slot_minutes)
    return sorted(found.items())


# --- tokens and TURN ------------------------------------------------------------------------

TOKEN_PREFIX = "thv"  # noqa: S105 - a public prefix, not a secret
TOKEN_BYTES = 32  # 256 random bits; the issue asks for at least 128


def new_join_token() -> tuple[str, bytes]:
    token = f"{TOKEN_PREFIX}_{secrets.token_urlsafe(TOKEN_BYTES)}"
    return token, token_digest(token)


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def plausible_token(token: str | None) -> bool:
    return (
        bool(token)
        and token is not None
        and token.startswith(TOKEN_PREFIX + "_")
        and len(token) <= 128
    )


def turn_credentials(
    secret: str, participant: str, now: datetime, ttl: timedelta
) -> tuple[str, str]:
    """The TURN REST API shared-secret scheme (as coturn's ``use-auth-secret`` implements it):
    username = expiry (Unix seconds) ":" participant; credential = base64(HMAC-SHA1(secret,
    username))."""
    expiry = int((now + ttl).timestamp())
    username = f"{expiry}:{participant}"
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode()


# --- SDP: DTLS-SRTP only --------------------------------------------------------------------

_SECURE_PROTOCOLS = (
    "UDP/TLS/RTP/SAVPF",
    "UDP/DTLS/SCTP",
    "TCP/DTLS/SCTP",
    "DTLS/SCTP",
    "TCP/TLS/RTP/SAVPF",
)


def check_sdp(sdp: str) -> None:
    """Refuse any description that is not DTLS-SRTP: SDES keys (``a=crypto``), a media section
    without a DTLS fingerprint, or a plain/SDES RTP profile."""
    lines = [line.strip() for line in sdp.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("v="):
        raise _insecure("the session description is malformed")
    if any(line.startswith("a=crypto:") for line in lines):
        raise _insecure("SDES keying (a=crypto) is refused; DTLS-SRTP only")
    session_fp, sections = _split_sections(lines)
    if not sections:
        raise _insecure("the session description has no media")
    for media, attributes in sections:
        parts = media.split()
        if len(parts) < 3 or parts[2] not in _SECURE_PROTOCOLS:
            raise _insecure("media must use a DTLS-SRTP profile")
        port_zero = len(parts) > 1 and parts[1] == "0"
        if not port_zero and not (
            session_fp or any(a.startswith("a=fingerprint:") for a in attributes)
        ):
            raise _insecure("a DTLS fingerprint is required")


def _split_sections(lines: Sequence[str]) -> tuple[bool, list[tuple[str, list[str]]]]:
    session_fp = False
    sections: list[tuple[str, list[str]]] = []
    for line in lines:
        if line.startswith("m="):
            sections.append((line[2:], []))
        elif sections:
            sections[-1][1].append(line)
        elif line.startswith("a=fingerprint:"):
            session_fp = True
    return session_fp, sections


def _insecure(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field="sdp")


# --- signaling messages ---------------------------------------------------------------------

MAX_SIGNAL_BYTES = 64 * 1024
# The deepest a message's JSON nests: an ICE candidate is an object in the message object.
MAX_SIGNAL_DEPTH = 4
RELAYED = frozenset({"offer", "answer", "ice", "media"})
# A participant's media state as the others show it: microphone on, camera on, screen shared.
MEDIA_FLAGS = ("audio", "video", "screen")
CLIENT_KINDS = RELAYED | {"stats", "ping", "bye", "chat"}


@dataclass(frozen=True, slots=True)
class Signal:
    kind: str
    to: str | None
    body: dict[str, Any]


def load_signal_json(raw: str | bytes) -> Any:
    """A message's JSON, bounded in size and depth. Strict JSON: ``NaN``, ``Infinity`` and
    numbers beyond a double's range are refused like any other invalid text."""
    if len(raw) > MAX_SIGNAL_BYTES:
        raise DomainError(ErrorCode.PAYLOAD_TOO_LARGE, "signaling message too large")
    try:
        # orjson parses iteratively up to a fixed depth (1024), never into a RecursionError.
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, "signaling message is not JSON") from exc
    if _deeper_than(data, MAX_SIGNAL_DEPTH):
        raise DomainError(ErrorCode.INVALID_INPUT, "signaling message nests too deeply")
    return data


def _deeper_than(value: Any, depth: int) -> bool:
    if not isinstance(value, dict | list):
        return False
    if depth == 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(child, depth - 1) for child in children)


def parse_signal(raw: str | bytes) -> Signal:
    """Parse one client message; anything unexpected is INVALID_INPUT (never a crash)."""
    data = load_signal_json(raw)
    if not isinstance(data, dict):
        raise DomainError(ErrorCode.INVALID_INPUT, "signaling message must be an object")
    kind = data.get("type")
    if kind not in CLIENT_KINDS:
        raise DomainError(ErrorCode.INVALID_INPUT, "unknown signaling message type")
    to = data.get("to")
    if to is not None and (not isinstance(to, str) or len(to) > 64):
        raise DomainError(ErrorCode.INVALID_INPUT, "'to' must be a participant id")
    body = {k: v for k, v in data.items() if k not in ("type", "to", "from")}
    if kind in ("offer", "answer"):
        sdp = body.get("sdp")
        if not isinstance(sdp, str):
            raise DomainError(ErrorCode.INVALID_INPUT, "an offer or answer needs an sdp string")
        check_sdp(sdp)
    if kind == "chat":
        body = {"body": message_text(body.get("body"))}
    if kind == "media":
        body = _media(body)
    if kind == "stats":
        body = {
            "video_sending": bool(body.get("video_sending")),
            "video_frames_sent": _count(body.get("video_frames_sent")),
            "video_frames_decoded": _count(body.get("video_frames_decoded")),
        }
    return Signal(kind=kind, to=to, body=body)


def _media(body: dict[str, Any]) -> dict[str, bool]:
    """Exactly the media flags, each a JSON boolean (``screen`` may be left out): every other
    participant's page renders them, so nothing else travels with them."""
    flags = {"screen": False, **body}
    if set(flags) != set(MEDIA_FLAGS) or not all(type(flags[f]) is bool for f in MEDIA_FLAGS):
        raise DomainError(
            ErrorCode.INVALID_INPUT, "a media message carries audio, video and screen booleans"
        )
    return {f: flags[f] for f in MEDIA_FLAGS}


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0
    return int(value)


# --- messages: the in-call chat and the clinician's word to the waiting room ----------------


class MessageAudience(StrEnum):
    CALL = "call"
    WAITING = "waiting"


MAX_MESSAGE_CHARS = 2000
# Control characters could hide text or forge line structure in a log or a page; a newline is
# the one a person types. Surrogates cannot be stored as text at all.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


def message_text(raw: object) -> str:
    """A message's body as stored: plain text, 1 to 2000 characters once stripped, no control
    character but the newline (a CRLF counts as one)."""
    if not isinstance(raw, str):
        raise _bad_message("a message must be text")
    text = raw.replace("\r\n", "\n").strip()
    if not text:
        raise _bad_message("a message cannot be empty")
    if len(text) > MAX_MESSAGE_CHARS:
        raise _bad_message(f"a message holds at most {MAX_MESSAGE_CHARS} characters")
    if any(c != "\n" and unicodedata.category(c) in _REFUSED_CATEGORIES for c in text):
        raise _bad_message("a message cannot hold control characters")
    return text


def _bad_message(message: str) -> DomainError:
    return DomainError(ErrorCode.INVALID_INPUT, message, field="body")


# --- the modality actually used -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModalityChange:
    at: datetime
    modality: str


@dataclass(frozen=True, slots=True)
class Segment:
    modality: str
    start: datetime
    end: datetime | None


def visit_modality(video_by_role: dict[str, bool]) -> str:
    """Audio-video needs video from both the patient's side and the clinician's side: that is
    what makes the encounter interactive audio and video; anything less is audio-only."""
    patient = video_by_role.get(ParticipantRole.PATIENT.value, False)
    clinician = video_by_role.get(ParticipantRole.CLINICIAN.value, False)
    return AUDIO_VIDEO if patient and clinician else AUDIO_ONLY


def segments(changes: Sequence[ModalityChange], end: datetime | None) -> list[Segment]:
    """Fold modality changes into contiguous segments (the last one open until ``end``)."""
    result: list[Segment] = []
    for change in sorted(changes, key=lambda c: c.at):
        if result and result[-1].modality == change.modality:
            continue
        if result:
            last = result[-1]
            result[-1] = Segment(last.modality, last.start, change.at)
        result.append(Segment(change.modality, change.at, None))
    if result and end is not None:
        last = result[-1]
        result[-1] = Segment(last.modality, last.start, max(end, last.start))
    return [s for s in result if s.end is None or s.end > s.start]


@dataclass(frozen=True, slots=True)
class PresenceMark:
    """One presence event of a participant: joined or left the signaling socket, admitted or
    removed. A join or leave names the socket (``connection``) it belongs to; marks written
    before sockets were named carry none."""

    participant: str
    role: str
    kind: PresenceKind
    at: datetime
    connection: str | None = None


def _in_order(marks: Iterable[PresenceMark]) -> list[PresenceMark]:
    # A leave written late (at its socket's last heartbeat) sorts where it happened.
    return sorted(marks, key=lambda m: m.at)


class _Sockets:
    """The signaling sockets each participant has open, mark after mark: a leave closes the
    socket its join opened; unnamed marks (older records) count up and down."""

    def __init__(self) -> None:
        self._named: dict[str, set[str]] = {}
        self._unnamed: dict[str, int] = {}
        # A socket's leave and join at one instant may come in either order.
        self._closed: set[str] = set()

    def apply(self, mark: PresenceMark) -> None:
        if mark.kind not in (PresenceKind.JOIN, PresenceKind.LEAVE):
            return
        joined = mark.kind is PresenceKind.JOIN
        if mark.connection is not None:
            named = self._named.setdefault(mark.participant, set())
            if not joined:
                self._closed.add(mark.connection)
                named.discard(mark.connection)
            elif mark.connection not in self._closed:
                named.add(mark.connection)
        else:
            count = self._unnamed.get(mark.participant, 0) + (1 if joined else -1)
            self._unnamed[mark.participant] = max(0, count)

    def open(self, participant: str) -> int:
        return len(self._named.get(participant, ())) + self._unnamed.get(participant, 0)


@dataclass(frozen=True, slots=True)
class Gap:
    """A time a participant who had joined was connected by no socket, until they joined
    again: a lost network, a reload, an instance that died under their socket."""

    participant: str
    role: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())


def presence_gaps(marks: Sequence[PresenceMark]) -> list[Gap]:
    """Every gap in the record: from the moment a participant's last open socket closed to
    their next join. Sockets that overlap (a new tab, a new network before the old one
    dropped) leave no gap; the end of the visit is not one."""
    sockets = _Sockets()
    since: dict[str, datetime] = {}
    gaps: list[Gap] = []
    for mark in _in_order(marks):
        if mark.kind not in (PresenceKind.JOIN, PresenceKind.LEAVE):
            continue
        sockets.apply(mark)
        who = mark.participant
        if mark.kind is PresenceKind.LEAVE and sockets.open(who) == 0:
            since.setdefault(who, mark.at)
        elif mark.kind is PresenceKind.JOIN and sockets.open(who) > 0 and who in since:
            start = since.pop(who)
            if mark.at > start:
                gaps.append(Gap(who, mark.role, start, mark.at))
    return gaps


_TWO_WAY_ROLES = (ParticipantRole.PATIENT.value, ParticipantRole.CLINICIAN.value)


def two_way_media(
    marks: Sequence[PresenceMark], segments_: Sequence[Segment], end: datetime | None
) -> bool:
    """Whether the patient and the clinician were ever connected with media at the same time.

    Video both ways (an audio-video segment) shows it by itself. Audio is not measured, so
    otherwise the call counts as two-way for as long as both were in it together: admitted,
    with the signaling socket that carries their media open. Moments do not count: the
    overlap must last."""
    if any(s.modality == AUDIO_VIDEO and s.end is not None and s.end > s.start for s in segments_):
        return True
    sockets = _Sockets()
    admitted: dict[str, bool] = {}
    roles: dict[str, str] = {}
    since: datetime | None = None
    for mark in _in_order(marks):
        if since is not None and mark.at > since:
            return True
        roles[mark.participant] = mark.role
        if mark.kind in (PresenceKind.JOIN, PresenceKind.LEAVE):
            sockets.apply(mark)
        else:
            admitted[mark.participant] = mark.kind is PresenceKind.ADMIT
        in_call = {roles[p] for p in roles if admitted.get(p, False) and sockets.open(p) > 0}
        together = all(role in in_call for role in _TWO_WAY_ROLES)
        since = (since or mark.at) if together else None
    return since is not None and end is not None and end > since


def video_flowing(previous_frames: int | None, frames: int, sending_flag: bool) -> bool:
    """Video counts as flowing when the sent-frame counter moved since the last report."""
    if not sending_flag:
        return False
    if previous_frames is None:
        return frames > 0
    return frames > previous_frames


# --- notes ----------------------------------------------------------------------------------


def signed_late(session_end: datetime | None, signed_at: datetime, window: timedelta) -> bool:
    if session_end is None:
        return False
    return signed_at - session_end > window


def queue_position(waiting_since: dict[str, datetime], participant: str) -> int | None:
    """1-based place in the waiting room, by arrival."""
    order = sorted(waiting_since, key=lambda p: (waiting_since[p], p))
    return order.index(participant) + 1 if participant in waiting_since else None
