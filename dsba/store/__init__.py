"""Files in the store: atomic writes, cross-host locks, memos of what was read."""
