# Rules for every rendered workload, in every overlay.
#
# 1. The Pod Security Standard "restricted" (baseline included), as the
#    Kubernetes documentation defines it, control by control. The namespace
#    enforces it too, but a violation should fail `make test`, not a deploy.
# 2. Conveyor's own rules on top: read-only root filesystem, a fixed uid and
#    gid, liveness and readiness probes, CPU and memory requests and limits.
package conveyor.workloads

import data.conveyor.lib
import rego.v1

# ---- Pod Security Standards: baseline -------------------------------------

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	lib.pod_spec[field] == true
	msg := sprintf("%s: %s must not be true (PSS baseline: host namespaces)", [lib.name, field])
}

deny contains msg if {
	some c in lib.all_containers
	lib.security(c).privileged == true
	msg := sprintf("%s: container %q must not be privileged (PSS baseline)", [lib.name, c.name])
}

deny contains msg if {
	lib.pod_security.windowsOptions.hostProcess == true
	msg := sprintf("%s: windowsOptions.hostProcess must not be true (PSS baseline)", [lib.name])
}

deny contains msg if {
	some c in lib.all_containers
	lib.security(c).windowsOptions.hostProcess == true
	msg := sprintf("%s: container %q: windowsOptions.hostProcess must not be true (PSS baseline)", [lib.name, c.name])
}

deny contains msg if {
	some c in lib.all_containers
	some port in object.get(c, "ports", [])
	object.get(port, "hostPort", 0) != 0
	msg := sprintf("%s: container %q must not use a hostPort (PSS baseline)", [lib.name, c.name])
}

deny contains msg if {
	lib.pod_security.appArmorProfile.type == "Unconfined"
	msg := sprintf("%s: the pod's AppArmor profile must not be Unconfined (PSS baseline)", [lib.name])
}

deny contains msg if {
	some c in lib.all_containers
	lib.security(c).appArmorProfile.type == "Unconfined"
	msg := sprintf("%s: container %q: AppArmor profile must not be Unconfined (PSS baseline)", [lib.name, c.name])
}

deny contains msg if {
	some key, value in object.get(lib.pod_metadata, "annotations", {})
	startswith(key, "container.apparmor.security.beta.kubernetes.io/")
	value != "runtime/default"
	not startswith(value, "localhost/")
	msg := sprintf("%s: AppArmor annotation %s=%s is not allowed (PSS baseline)", [lib.name, key, value])
}

selinux_types := {"container_t", "container_init_t", "container_kvm_t", "container_engine_t"}

selinux_options contains opts if {
	opts := lib.pod_security.seLinuxOptions
}

selinux_options contains opts if {
	some c in lib.all_containers
	opts := lib.security(c).seLinuxOptions
}

deny contains msg if {
	some opts in selinux_options
	some field in ["user", "role"]
	object.get(opts, field, "") != ""
	msg := sprintf("%s: seLinuxOptions.%s must not be set (PSS baseline)", [lib.name, field])
}

deny contains msg if {
	some opts in selinux_options
	type := object.get(opts, "type", "")
	type != ""
	not type in selinux_types
	msg := sprintf("%s: seLinuxOptions.type %q is not allowed (PSS baseline)", [lib.name, type])
}

deny contains msg if {
	some c in lib.all_containers
	object.get(lib.security(c), "procMount", "Default") != "Default"
	msg := sprintf("%s: container %q: procMount must be Default (PSS baseline)", [lib.name, c.name])
}

# Probes and lifecycle handlers must not aim at another host (baseline since
# Kubernetes 1.34): the kubelet would connect wherever they point.
deny contains msg if {
	some c in lib.all_containers
	some handler in ["livenessProbe", "readinessProbe", "startupProbe"]
	some action in ["httpGet", "tcpSocket"]
	object.get(c, [handler, action, "host"], "") != ""
	msg := sprintf("%s: container %q: %s.%s.host must not be set (PSS baseline)", [lib.name, c.name, handler, action])
}

deny contains msg if {
	some c in lib.all_containers
	some hook in ["postStart", "preStop"]
	some action in ["httpGet", "tcpSocket"]
	object.get(c, ["lifecycle", hook, action, "host"], "") != ""
	msg := sprintf("%s: container %q: lifecycle.%s.%s.host must not be set (PSS baseline)", [lib.name, c.name, hook, action])
}

# The "safe" sysctls of the Pod Security Standards (up to Kubernetes 1.32).
safe_sysctls := {
	"kernel.shm_rmid_forced",
	"net.ipv4.ip_local_port_range",
	"net.ipv4.ip_local_reserved_ports",
	"net.ipv4.ip_unprivileged_port_start",
	"net.ipv4.tcp_syncookies",
	"net.ipv4.ping_group_range",
	"net.ipv4.tcp_keepalive_time",
	"net.ipv4.tcp_fin_timeout",
	"net.ipv4.tcp_keepalive_intvl",
	"net.ipv4.tcp_keepalive_probes",
	"net.ipv4.tcp_rmem",
	"net.ipv4.tcp_wmem",
}

deny contains msg if {
	some sysctl in object.get(lib.pod_security, "sysctls", [])
	not sysctl.name in safe_sysctls
	msg := sprintf("%s: sysctl %s is not allowed (PSS baseline)", [lib.name, sysctl.name])
}

# ---- Pod Security Standards: restricted -----------------------------------

# Restricted allows only these volume types (hostPath among others is out).
allowed_volume_types := {
	"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
	"persistentVolumeClaim", "projected", "secret",
}

deny contains msg if {
	some volume in object.get(lib.pod_spec, "volumes", [])
	some type, _ in volume
	type != "name"
	not type in allowed_volume_types
	msg := sprintf("%s: volume %q of type %s is not allowed (PSS restricted)", [lib.name, volume.name, type])
}

deny contains msg if {
	some c in lib.all_containers
	not lib.security(c).allowPrivilegeEscalation == false
	msg := sprintf("%s: container %q must set allowPrivilegeEscalation: false (PSS restricted)", [lib.name, c.name])
}

run_as_non_root(c) if lib.security(c).runAsNonRoot == true

run_as_non_root(c) if {
	lib.pod_security.runAsNonRoot == true
	not lib.security(c).runAsNonRoot == false
}

deny contains msg if {
	some c in lib.all_containers
	not run_as_non_root(c)
	msg := sprintf("%s: container %q must run with runAsNonRoot: true (PSS restricted)", [lib.name, c.name])
}

deny contains msg if {
	lib.pod_security.runAsUser == 0
	msg := sprintf("%s: the pod must not set runAsUser: 0 (PSS restricted)", [lib.name])
}

deny contains msg if {
	some c in lib.all_containers
	lib.security(c).runAsUser == 0
	msg := sprintf("%s: container %q must not set runAsUser: 0 (PSS restricted)", [lib.name, c.name])
}

seccomp_type(c) := lib.security(c).seccompProfile.type

seccomp_type(c) := lib.pod_security.seccompProfile.type if not lib.security(c).seccompProfile.type

# A helper rule, not `not seccomp_type(c) in {...}`: `not` over an undefined
# value inside a membership test would silently pass.
seccomp_confined(c) if seccomp_type(c) in {"RuntimeDefault", "Localhost"}

deny contains msg if {
	some c in lib.all_containers
	not seccomp_confined(c)
	msg := sprintf("%s: container %q needs seccompProfile RuntimeDefault or Localhost (PSS restricted)", [lib.name, c.name])
}

deny contains msg if {
	some c in lib.all_containers
	not "ALL" in object.get(lib.security(c), ["capabilities", "drop"], [])
	msg := sprintf("%s: container %q must drop ALL capabilities (PSS restricted)", [lib.name, c.name])
}

deny contains msg if {
	some c in lib.all_containers
	some cap in object.get(lib.security(c), ["capabilities", "add"], [])
	cap != "NET_BIND_SERVICE"
	msg := sprintf("%s: container %q must not add capability %s (PSS restricted)", [lib.name, c.name, cap])
}

# ---- Conveyor --------------------------------------------------------------

deny contains msg if {
	some c in lib.all_containers
	not lib.security(c).readOnlyRootFilesystem == true
	msg := sprintf("%s: container %q must set readOnlyRootFilesystem: true (use an emptyDir where it writes)", [lib.name, c.name])
}

# A fixed uid and gid, as the images define them, so volume ownership
# (fsGroup) and file modes are predictable.
effective(c, field) := lib.security(c)[field]

effective(c, field) := lib.pod_security[field] if not lib.security(c)[field]

deny contains msg if {
	some c in lib.all_containers
	some field in ["runAsUser", "runAsGroup"]
	not effective(c, field)
	msg := sprintf("%s: container %q needs a fixed %s (pod or container securityContext)", [lib.name, c.name, field])
}

deny contains msg if {
	some c in lib.containers
	some probe in ["livenessProbe", "readinessProbe"]
	not c[probe]
	msg := sprintf("%s: container %q has no %s", [lib.name, c.name, probe])
}

deny contains msg if {
	some c in lib.all_containers
	some kind in ["requests", "limits"]
	some resource in ["cpu", "memory"]
	not c.resources[kind][resource]
	msg := sprintf("%s: container %q has no %s.%s", [lib.name, c.name, kind, resource])
}

# The namespace itself enforces the profile, so the cluster rejects what
# slips past these rules.
deny contains msg if {
	input.kind == "Namespace"
	not input.metadata.labels["pod-security.kubernetes.io/enforce"] == "restricted"
	msg := sprintf("Namespace/%s must be labelled pod-security.kubernetes.io/enforce: restricted", [input.metadata.name])
}
