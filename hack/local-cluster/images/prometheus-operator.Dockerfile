# The Prometheus Operator built from the Go module proxy by addons/prometheus.sh.
FROM scratch
COPY operator /bin/operator
USER 65534:65534
ENTRYPOINT ["/bin/operator"]
