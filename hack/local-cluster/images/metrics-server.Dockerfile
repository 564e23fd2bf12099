# metrics-server built from the Go module proxy by addons/metrics-server.sh;
# a static binary, like upstream's distroless image.
FROM scratch
COPY metrics-server /metrics-server
USER 65534:65534
ENTRYPOINT ["/metrics-server"]
