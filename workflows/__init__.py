"""The state machines, defined in Python and rendered to committed ASL (JSONPath)."""
