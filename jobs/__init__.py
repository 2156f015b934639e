"""Background jobs: plain functions ``(now, ...) -> summary`` and the APScheduler that runs them."""
