"""The shared kernel: what every app builds on and none owns (the scheduler interface,
advisory locks, the API's building blocks, shared validators, display and database helpers)."""
