"""What the portal holds about people, and the school's duties towards them: a user's data
export (export.py), erasure (erasure.py), retention periods (retention.py) and the log of
who read or exported whose data (access_log.py). docs/privacy.md explains it for schools."""
