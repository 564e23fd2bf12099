# KEDA's operator built from the Go module proxy by addons/keda.sh; upstream's
# manifests run it as /keda.
FROM scratch
COPY operator /keda
USER 65532:65532
ENTRYPOINT ["/keda"]
