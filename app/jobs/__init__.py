"""Worker jobs: load by id, call the domain, commit, enqueue follow-ups. Jobs are idempotent."""
