# Unit tests of workloads.rego (`conftest verify -p deploy/policy`): one
# compliant Deployment, then one broken copy per rule, each of which must be
# denied with the rule's own message.
package conveyor.workloads_test

import data.conveyor.workloads
import rego.v1

good := {
	"apiVersion": "apps/v1",
	"kind": "Deployment",
	"metadata": {"name": "api"},
	"spec": {"template": {
		"metadata": {"labels": {"app": "api"}},
		"spec": {
			"securityContext": {
				"runAsNonRoot": true,
				"runAsUser": 10001,
				"runAsGroup": 10001,
				"seccompProfile": {"type": "RuntimeDefault"},
			},
			"initContainers": [{
				"name": "migrate",
				"image": "conveyor-api:1.0.0",
				"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
				"securityContext": {
					"allowPrivilegeEscalation": false,
					"readOnlyRootFilesystem": true,
					"capabilities": {"drop": ["ALL"]},
				},
			}],
			"containers": [{
				"name": "api",
				"image": "conveyor-api:1.0.0",
				"livenessProbe": {"httpGet": {"path": "/healthz", "port": 8000}},
				"readinessProbe": {"httpGet": {"path": "/readyz", "port": 8000}},
				"resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "1", "memory": "128Mi"}},
				"securityContext": {
					"allowPrivilegeEscalation": false,
					"readOnlyRootFilesystem": true,
					"capabilities": {"drop": ["ALL"]},
				},
			}],
			"volumes": [{"name": "tmp", "emptyDir": {}}],
		},
	}},
}

# good with one JSON patch applied
broken(ops) := json.patch(good, ops)

denied_with(obj, text) if {
	some msg in workloads.deny with input as obj
	contains(msg, text)
}

test_good_passes if {
	count(workloads.deny) == 0 with input as good
}

test_non_workloads_are_ignored if {
	count(workloads.deny) == 0 with input as {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {}}
}

test_run_as_non_root_missing if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/securityContext/runAsNonRoot"}]), "runAsNonRoot")
}

test_run_as_non_root_overridden_by_container if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/runAsNonRoot", "value": false}])
	denied_with(obj, "runAsNonRoot")
}

test_run_as_root_user if {
	denied_with(broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/runAsUser", "value": 0}]), "runAsUser: 0")
}

test_privilege_escalation_in_init_container if {
	obj := broken([{"op": "remove", "path": "/spec/template/spec/initContainers/0/securityContext/allowPrivilegeEscalation"}])
	denied_with(obj, "allowPrivilegeEscalation")
}

test_capabilities_not_dropped if {
	denied_with(broken([{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/capabilities/drop", "value": ["NET_RAW"]}]), "drop ALL")
}

test_capability_added if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/capabilities/add", "value": ["SYS_ADMIN"]}])
	denied_with(obj, "SYS_ADMIN")
}

test_net_bind_service_allowed if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/capabilities/add", "value": ["NET_BIND_SERVICE"]}])
	count(workloads.deny) == 0 with input as obj
}

test_seccomp_missing if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/securityContext/seccompProfile"}]), "seccompProfile")
}

test_seccomp_unconfined_on_container if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/seccompProfile", "value": {"type": "Unconfined"}}])
	denied_with(obj, "seccompProfile")
}

test_privileged if {
	denied_with(broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/privileged", "value": true}]), "privileged")
}

test_host_network if {
	denied_with(broken([{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": true}]), "hostNetwork")
}

test_host_port if {
	denied_with(broken([{"op": "add", "path": "/spec/template/spec/containers/0/ports", "value": [{"containerPort": 8000, "hostPort": 8000}]}]), "hostPort")
}

test_host_path_volume if {
	denied_with(broken([{"op": "add", "path": "/spec/template/spec/volumes/-", "value": {"name": "h", "hostPath": {"path": "/"}}}]), "hostPath")
}

test_unsafe_sysctl if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/securityContext/sysctls", "value": [{"name": "kernel.msgmax", "value": "1"}]}])
	denied_with(obj, "kernel.msgmax")
}

test_selinux_user if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/securityContext/seLinuxOptions", "value": {"user": "root"}}])
	denied_with(obj, "seLinuxOptions.user")
}

test_apparmor_unconfined if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/securityContext/appArmorProfile", "value": {"type": "Unconfined"}}])
	denied_with(obj, "AppArmor")
}

test_proc_mount if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/securityContext/procMount", "value": "Unmasked"}])
	denied_with(obj, "procMount")
}

test_writable_root_filesystem if {
	obj := broken([{"op": "replace", "path": "/spec/template/spec/containers/0/securityContext/readOnlyRootFilesystem", "value": false}])
	denied_with(obj, "readOnlyRootFilesystem")
}

test_no_fixed_gid if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/securityContext/runAsGroup"}]), "fixed runAsGroup")
}

test_no_liveness_probe if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/containers/0/livenessProbe"}]), "no livenessProbe")
}

test_no_readiness_probe if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/containers/0/readinessProbe"}]), "no readinessProbe")
}

test_no_memory_limit if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/containers/0/resources/limits/memory"}]), "limits.memory")
}

test_no_cpu_request_in_init_container if {
	denied_with(broken([{"op": "remove", "path": "/spec/template/spec/initContainers/0/resources/requests/cpu"}]), "requests.cpu")
}

test_cronjob_pod_is_checked if {
	cron := {
		"apiVersion": "batch/v1",
		"kind": "CronJob",
		"metadata": {"name": "c"},
		"spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}},
	}
	denied_with(cron, "runAsNonRoot")
}

test_namespace_without_enforce if {
	denied_with({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {}}}, "enforce: restricted")
}

test_namespace_enforcing_restricted if {
	ns := {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
	count(workloads.deny) == 0 with input as ns
}

test_probe_host if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/readinessProbe/httpGet/host", "value": "10.0.0.1"}])
	denied_with(obj, "readinessProbe.httpGet.host")
}

test_lifecycle_host if {
	obj := broken([{"op": "add", "path": "/spec/template/spec/containers/0/lifecycle", "value": {"preStop": {"httpGet": {"host": "example.com", "port": 80}}}}])
	denied_with(obj, "lifecycle.preStop.httpGet.host")
}
