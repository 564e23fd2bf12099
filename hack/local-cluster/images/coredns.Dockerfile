# CoreDNS built from the Go module proxy by hack/local-cluster/lib.sh
# (build_images) into the build context; a static binary needs nothing else.
FROM scratch
COPY coredns /coredns
USER 65532:65532
EXPOSE 53 53/udp
ENTRYPOINT ["/coredns"]
