"""One request, one transaction.

A :class:`UnitOfWork` owns a session. Work that must join the transaction registers a
before-commit hook (the audit trail flushes its rows there, so they commit with the data);
side effects register after-commit hooks (notifications, signaling pushes) so nothing is sent
about a row that may still roll back. Hooks registered for rollback run in a fresh transaction
after the failed one is discarded: a denied access is still recorded.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

SessionHook = Callable[[Session], None]


class UnitOfWork:
    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory
        self.session: Session = factory()
        self._before_commit: list[SessionHook] = []
        self._after_commit: list[Callable[[], None]] = []
        self._after_rollback: list[SessionHook] = []
        self._finished = False

    @property
    def factory(self) -> sessionmaker[Session]:
        """The sessions this unit of work's come from (a job opens further units on them)."""
        return self._factory

    def before_commit(self, hook: SessionHook) -> None:
        self._before_commit.append(hook)

    def after_commit(self, hook: Callable[[], None]) -> None:
        self._after_commit.append(hook)

    def after_rollback(self, hook: SessionHook) -> None:
        self._after_rollback.append(hook)

    def commit(self) -> None:
        try:
            for hook in self._before_commit:
                hook(self.session)
            self.session.commit()
        except BaseException:
            self.rollback()
            raise
        self._finished = True
        self.session.close()
        for effect in self._after_commit:
            effect()

    def rollback(self) -> None:
        self.session.rollback()
        self.session.close()
        self._finished = True
        if not self._after_rollback:
            return
        with self._factory() as recovery:
            for hook in self._after_rollback:
                hook(recovery)
            recovery.commit()

    def close(self) -> None:
        if not self._finished:
            self.rollback()
