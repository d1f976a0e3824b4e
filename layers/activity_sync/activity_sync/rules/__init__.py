"""The pure rules of the activity sync, one module per SPEC rule (S1-S4, R1-R18).

Nothing here does I/O or reads the clock: the current time is always passed in as `now`.
"""
