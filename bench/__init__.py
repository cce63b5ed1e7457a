"""Benchmarks of the help desk's hot paths: ``python -m bench [--only NAME] [--sizes N,N]``.

Each benchmark module exposes ``run(args) -> list[dict]``; the results are
printed, written as JSON under bench/results/ and summarised as Markdown for
docs/benchmarks.md.
"""
