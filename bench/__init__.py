"""Performance benchmarks: the tool's code against literal re-statements of the published
procedures, measured in the same process or run. Not tests; see bench/README.md."""
