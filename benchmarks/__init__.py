"""``make bench``: time to bastion, cost per session and scale, measured on the local AWS.

Run it with ``python -m benchmarks``. It prints plain-text tables and writes them, as
Markdown, to ``docs/benchmarks.md``. Every number comes from this run: executions on
the embedded local AWS, the rendered ASL, a seeded simulation on a simulated clock, and
fresh Python processes importing the Lambda handlers.
"""
