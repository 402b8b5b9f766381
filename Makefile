# ContactGuard developer commands. See README.md and docs/development.md.
.PHONY: run test e2e gen check-generated bench-restriction fault-test bench-evidence

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

# Benchmark of the contact check (about 90 s; not part of make test): 100,000 restrictions,
# constant gRPC handler vs the check at concurrencies 1, 8, 64. Starts redis-server unless
# BENCH_REDIS_URL is set. Flags: make bench-restriction BENCH_FLAGS="-duration 10s -concurrency 1,16,64,256".
bench-restriction:
	@cd restriction-svc && go run ./cmd/benchcheck $(BENCH_FLAGS)

# Notification fault test (about 2 minutes plus the first build; not part of make test): 1,000 incidents while notify-svc
# is SIGKILLed twice, the mail sink stopped 30 s and redis-server restarted empty; counts the emails
# and prints the throughput. The baseline without faults: make fault-test FAULT_FLAGS=-quiet.
fault-test:
	@bash scripts/fault-test.sh $(FAULT_FLAGS)

# Benchmark of evidence storage (about 3 minutes; not part of make test): a 200 MiB file uploaded and
# downloaded through evidence-svc and through raw GridFS on the same throwaway FerretDB (MONGO_URI and
# REDIS_URL to use others); prints both throughputs, their ratio and evidence-svc's peak RSS growth.
# Flags: make bench-evidence BENCH_EVIDENCE_FLAGS="-size 50 -rounds 1".
bench-evidence:
	@bash evidence-svc/cmd/bench-evidence/bench.sh $(BENCH_EVIDENCE_FLAGS)
