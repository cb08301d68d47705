"""The session workflow's Lambda tasks: one module a task, thin handlers over plain functions."""
