# Developer shortcuts. CI runs .ci/run.
GO        ?= go
FUZZTIME  ?= 30s
BENCHTIME ?= 1s
# make testbed: the real-kernel closed loop (docs/testbed.md); needs root.
SCENARIO  ?= step-drop
DURATION  ?= 60s
POLICY    ?= all

.PHONY: build test lint lint-rules fuzz bench reliability testbed clean

build:
	$(GO) build -o bin/wanctl .

test:
	$(GO) test ./...

lint:
	$(GO) mod tidy -diff
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	@test -z "$$(gofmt -l .)" || { echo "not gofmt-formatted:"; gofmt -l .; exit 1; }
	$(MAKE) lint-rules

# promtool checks the alerting rules. Not in .ci/run: its first build takes
# minutes (the Prometheus module and its Kubernetes dependencies); later
# runs use the module and build caches.
lint-rules:
	$(GO) run github.com/prometheus/prometheus/cmd/promtool@v0.316.0 check rules contrib/prometheus/wanctl.rules.yml

# Every FuzzXxx of every package, FUZZTIME each. A short minimisation time
# keeps the fuzzer exploring instead of shrinking one input for a minute.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "== $$pkg $$f"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s $$pkg; \
		done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./...

# The fault matrix (docs/reliability.md): behind a build tag, so go test ./...
# leaves it out. Its cases mostly wait on client timeouts, hence -parallel.
reliability:
	$(GO) test -tags reliability -count=1 -parallel 8 ./reliability/...
	$(GO) test -tags reliability -count=1 -run '^TestReliability' ./loops/autorate/

testbed: build
	./bin/wanctl lab -scenario $(SCENARIO) -duration $(DURATION) -policy $(POLICY)

clean:
	rm -rf bin
