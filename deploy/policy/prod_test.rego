package conveyor.prod_test

import data.conveyor.prod
import rego.v1

pod(image) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "p"},
	"spec": {"containers": [{"name": "c", "image": image}]},
}

test_explicit_version_passes if {
	count(prod.deny) == 0 with input as pod("ghcr.io/conveyor-project/conveyor-api:1.2.3")
}

test_digest_passes if {
	count(prod.deny) == 0 with input as pod("ghcr.io/o/a@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
}

test_latest_denied if {
	some msg in prod.deny with input as pod("ghcr.io/conveyor-project/conveyor-api:latest")
	contains(msg, "latest")
}

test_no_tag_denied if {
	some msg in prod.deny with input as pod("ghcr.io/conveyor-project/conveyor-api")
	contains(msg, "no tag")
}

test_registry_port_is_not_a_tag if {
	some msg in prod.deny with input as pod("registry.local:5000/conveyor-api")
	contains(msg, "no tag")
}

test_init_container_checked if {
	obj := json.patch(pod("a:1"), [{"op": "add", "path": "/spec/initContainers", "value": [{"name": "m", "image": "a:latest"}]}])
	some msg in prod.deny with input as obj
	contains(msg, "\"m\"")
}
