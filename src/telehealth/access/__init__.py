"""The one place object-level access is decided.

Every route that returns or changes an object reaches it through a ``readable_*`` or
``writable_*`` function here. An object the actor may not see raises the same not-found error
as a missing one, and the attempt is audited.
"""
