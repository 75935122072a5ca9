"""The composition root's one construction of the ports (``telehealth.ports``).

``bootstrap(settings)`` is called once per process, by ``create_app``, a CLI command or the
job runner, and what it returns is handed down; nothing else builds a blob store, signaling
hub, mailer, rule set or code set from the settings. ``bootstrap_for_tests`` gives the same
ports with their in-memory twins, for tests that need no server, disk or network.
"""

from __future__ import annotations

from telehealth.clock import Clock, SystemClock
from telehealth.coding.codeset import CodeSet
from telehealth.coding.loader import default_codeset
from telehealth.config import Settings
from telehealth.notifications.mailer import MemoryMailer, SmtpMailer
from telehealth.policy.loader import RuleSet, load_ruleset
from telehealth.ports import Ports
from telehealth.review.storage import review_storage_for
from telehealth.storage import MemoryBlobStore
from telehealth.visits.signaling import InProcessHub, make_hub


def bootstrap(
    settings: Settings,
    *,
    clock: Clock | None = None,
    ruleset: RuleSet | None = None,
    codeset: CodeSet | None = None,
) -> Ports:
    """The ports the settings describe, on the system clock unless ``clock`` is given. The
    rule and code sets are compiled from ``policies/`` unless given already compiled (they are
    immutable; a test suite compiles them once for all its applications)."""
    return Ports(
        settings=settings,
        clock=clock or SystemClock(),
        uploads=review_storage_for(settings),
        hub=make_hub(settings.redis_url),
        mailer=SmtpMailer(settings),
        ruleset=ruleset or load_ruleset(),
        codeset=codeset or default_codeset(),
    )


def bootstrap_for_tests(
    settings: Settings,
    clock: Clock,
    *,
    ruleset: RuleSet | None = None,
    codeset: CodeSet | None = None,
) -> Ports:
    """The same ports with their in-memory twins: blobs in a dict, signaling inside the
    process, emails kept in a list (``ports.mailer.sent``); on the given clock."""
    return Ports(
        settings=settings,
        clock=clock,
        uploads=review_storage_for(settings, MemoryBlobStore()),
        hub=InProcessHub(),
        mailer=MemoryMailer(),
        ruleset=ruleset or load_ruleset(),
        codeset=codeset or default_codeset(),
    )
