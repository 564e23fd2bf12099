# KEDA's metrics API server built from the Go module proxy by addons/keda.sh;
# upstream's manifests run it as /keda-adapter.
FROM scratch
COPY adapter /keda-adapter
USER 65532:65532
ENTRYPOINT ["/keda-adapter"]
