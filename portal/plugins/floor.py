"""The floor of a class occurrence as plugins see it (raised hands and grants live in the core).

    from portal.plugins.floor import grant, grant_of, grants_of, withdraw

A media backend asks `grant_of(schedule_id, user_id)` before it lets a student publish
(`grants_of(schedule_id, user_ids)` for a batch of joiners, one query), and enforces changes
in its `floor_changed` hook. `grant`/`withdraw` are the core's own rules (only the class's
teacher or an admin; only students of the class).
"""

from portal.core.floor import grant, grant_of, grants_of, withdraw

__all__ = ["grant", "grant_of", "grants_of", "withdraw"]
