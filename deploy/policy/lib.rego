# Helpers shared by the Conveyor policies: where a workload keeps its pod.
package conveyor.lib

import rego.v1

template_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_spec := input.spec.template.spec if input.kind in template_kinds

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

pod_spec := input.spec if input.kind == "Pod"

pod_metadata := object.get(input.spec.template, "metadata", {}) if input.kind in template_kinds

pod_metadata := object.get(input.spec.jobTemplate.spec.template, "metadata", {}) if input.kind == "CronJob"

pod_metadata := input.metadata if input.kind == "Pod"

pod_security := object.get(pod_spec, "securityContext", {})

# The long-running containers (the ones that need probes).
containers := object.get(pod_spec, "containers", [])

# Every container of the pod: the rules of the Pod Security Standards apply to
# init and ephemeral containers as much as to the main ones.
all_containers := array.concat(
	array.concat(containers, object.get(pod_spec, "initContainers", [])),
	object.get(pod_spec, "ephemeralContainers", []),
)

security(container) := object.get(container, "securityContext", {})

name := sprintf("%s/%s", [input.kind, input.metadata.name])
