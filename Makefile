# The README's quick start is these two targets: `make run` and `make test`.
.PHONY: run test test-fast bench clean

run:
	@scripts/run.sh

test:
	@scripts/test.sh $(ARGS)

# The suite without the tests marked slow.
test-fast:
	@scripts/test.sh -m "not slow" $(ARGS)

bench:
	@scripts/bench.sh $(ARGS)

clean:
	rm -rf .venv db.sqlite3 db.sqlite3-wal db.sqlite3-shm staticfiles .pytest_cache
