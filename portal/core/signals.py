"""In-core domain signals (blinker). Plugins use the pluggy events instead.

They let one core service react to another's change (reminders follow a moved class)
without the two importing each other.
"""

from blinker import Namespace

_signals = Namespace()

# sender: the Schedule; kwargs: change="created" | "moved" | "cancelled" | "restored"
schedule_changed = _signals.signal("schedule-changed")
# sender: the Class; kwargs: users (everyone one change enrolled or removed), enrolled: bool
enrolment_changed = _signals.signal("enrolment-changed")
# sender: the BlockedUser row; kwargs: blocked: bool
block_changed = _signals.signal("block-changed")
# sender: the Meeting; kwargs: event="started" | "ended"
meeting_changed = _signals.signal("meeting-changed")
# sender: the Recording (a new row, committed)
recording_stored = _signals.signal("recording-stored")
