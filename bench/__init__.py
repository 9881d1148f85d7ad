"""The benchmarks (`make bench`): the real stack on loopback, realistic volumes, one table of
figures against goals, also written to docs/benchmarks.md. Not part of the test suite; a smoke
run at tiny volumes is (tests/bench)."""
