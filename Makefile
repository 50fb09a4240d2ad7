# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go

.PHONY: run build test lint bench loadtest fuzz clean

## run: build and serve on http://localhost:4000 with the embedded defaults
run: build
	./bin/web

## build: the one binary, bin/web
build:
	$(GO) build -o bin/web ./cmd/web

## test: every test (CI runs exactly this); services come from TEST_REDIS_URL,
## TEST_DATABASE_URL and a local chromium, skipped when absent unless
## REQUIRE_SERVICES=1
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...

## lint: go vet and a gofmt check
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## bench: Go benchmarks of the hot paths
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./...

## loadtest: the service under wrk (W0, W1, W2), see docs/BENCHMARKS.md
loadtest: build
	./scripts/loadtest.sh

## fuzz: run each fuzz target for FUZZTIME (default 30s)
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzSafeNext$$' -fuzztime $(FUZZTIME) ./internal/app/
	$(GO) test -run '^$$' -fuzz '^FuzzFormPost$$' -fuzztime $(FUZZTIME) ./internal/app/
	$(GO) test -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME) ./cmd/web/
	$(GO) test -run '^$$' -fuzz '^FuzzCodecDecode$$' -fuzztime $(FUZZTIME) ./internal/sessionstore/

clean:
	rm -rf bin
