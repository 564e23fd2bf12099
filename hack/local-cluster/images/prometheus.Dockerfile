# Prometheus and promtool from Debian's package (the binary links glibc, so the
# image is Debian, not scratch). addons/prometheus.sh checks the version.
FROM debian:trixie
# The version is checked after the build (addons/prometheus.sh), not pinned here.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/*
USER 65534:65534
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
