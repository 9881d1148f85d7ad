"""The project's own processes on loopback: PostgreSQL databases of their own, the reference
CMS, gunicorn, `portal` commands and workers. Started alike by the tests (tests/support) and the
benchmarks (bench/), so both run the stack the same way."""
