"""The shared kit the apps stand on: HTTP helpers, errors, stores, logging, middleware, metrics.

It imports no app and no wiring module (import-linter contracts in .importlinter).
"""
