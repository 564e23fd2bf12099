# A stand-in for rhysd/actionlint, which no registry serves here: the same binary, built from the Go module proxy.
FROM debian:trixie AS build
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends golang-go ca-certificates git >/dev/null
RUN GOBIN=/out GOFLAGS=-trimpath go install -ldflags="-s -w" github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

FROM debian:trixie
# hadolint ignore=DL3008
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends shellcheck >/dev/null && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/actionlint /usr/local/bin/actionlint
ENTRYPOINT ["/usr/local/bin/actionlint"]
