"""What operators watch: /metrics, /healthz and /readyz, request ids and structured logs.

A project-level app (it reads both the key pool and the game, which know nothing of each other).
"""
