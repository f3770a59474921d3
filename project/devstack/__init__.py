"""The development stack: the embedded PostgreSQL and Redis that `make run` and the tests
start from wheels and the launcher around them (settings read only its local URLs)."""
