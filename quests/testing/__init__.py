"""Support code for tests and benchmarks of the game (never used by the running game)."""
