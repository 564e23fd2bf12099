# The pod sandbox image: upstream Kubernetes' pause.c, compiled statically by
# hack/local-cluster/lib.sh (build_images) into the build context.
FROM scratch
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]
