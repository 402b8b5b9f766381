# ContactGuard developer commands. See README.md and docs/development.md.
.PHONY: run test e2e gen check-generated

# Start the whole stack (embedded FerretDB, redis-server, mail sink, services, gateway on :8080).
run:
	@bash scripts/run.sh

# Everything CI runs: gofmt, go vet, buf lint, generated-code check, tests with -race, end-to-end tests.
test:
	@bash scripts/test.sh

# Only the end-to-end tests (with their throwaway FerretDB, Redis and mail sink).
e2e:
	@bash scripts/test.sh e2e

# Regenerate the Go, gateway and OpenAPI code from proto/.
gen:
	@bash scripts/gen-proto.sh

# Regenerate, run buf lint and fail if the committed generated code differs.
check-generated:
	@bash scripts/check-generated.sh
