#!/bin/sh
# The frontend container's entrypoint: writes the one piece of nginx
# configuration that depends on where the container runs, then execs its
# command (nginx, which stays PID 1 and gets the stop signal directly).
#
# nginx proxies /api/ through a variable, so it looks the API's name up again
# while it runs (every 10 s) rather than once at start: a Service recreated by
# an undeploy and a deploy, or a compose container with a new address, is
# found again without restarting nginx. nginx's own resolver needs a DNS
# server's address and a complete name (it ignores resolv.conf's search list);
# both come from /etc/resolv.conf:
#   - the resolver is its first nameserver: the cluster DNS in Kubernetes,
#     Docker's embedded DNS (127.0.0.11) in compose;
#   - in a Kubernetes pod (KUBERNETES_SERVICE_HOST is always set there) the
#     first search domain is <namespace>.svc.<cluster domain>, so the API is
#     api.<that>; elsewhere the name `api` is complete already.
# API_UPSTREAM (http://host:port) and API_RESOLVER (an address) override them.
set -eu

out_dir=/tmp/conveyor
out=$out_dir/api-upstream.conf

nameserver=
search=
while read -r key value _; do
    case $key in
        nameserver) [ -n "$nameserver" ] || nameserver=$value ;;
        search) search=$value ;;
    esac
done < /etc/resolv.conf

resolver=${API_RESOLVER:-$nameserver}
if [ -z "$resolver" ]; then
    echo "entrypoint: no nameserver in /etc/resolv.conf; set API_RESOLVER to a DNS server's address" >&2
    exit 1
fi
# nginx wants IPv6 addresses in brackets.
case $resolver in
    *:*) case $resolver in \[*) ;; *) resolver="[$resolver]" ;; esac ;;
esac

host=api
if [ -n "${KUBERNETES_SERVICE_HOST:-}" ]; then
    case $search in
        *.svc.*) host=api.$search ;;
    esac
fi
upstream=${API_UPSTREAM:-http://$host:8000}
case $upstream in
    http://?*) ;;
    *) echo "entrypoint: API_UPSTREAM must look like http://host:port, not '$upstream'" >&2; exit 1 ;;
esac

mkdir -p "$out_dir"
{
    echo "# Written by the entrypoint at start; see entrypoint.sh."
    echo "resolver $resolver valid=10s ipv6=off;"
    echo "resolver_timeout 3s;"
    echo "set \$conveyor_api $upstream;"
} > "$out"
echo "entrypoint: /api/ -> $upstream (resolver $resolver, names looked up again every 10 s)" >&2

exec "$@"
