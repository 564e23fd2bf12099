# The operator's config reloader sidecar, built with it by addons/prometheus.sh.
FROM scratch
COPY prometheus-config-reloader /bin/prometheus-config-reloader
USER 65534:65534
ENTRYPOINT ["/bin/prometheus-config-reloader"]
