# Rules for the YAML files tracked by git: no secret in plain text.
package conveyor.repository

import rego.v1

# A Secret object with values. (Base64 is an encoding, not encryption.)
deny contains msg if {
	input.kind == "Secret"
	some field in ["data", "stringData"]
	count(object.get(input, field, {})) > 0
	msg := sprintf("Secret/%s carries %s in a committed file: generate it from a git-ignored env file or use an external secret store", [input.metadata.name, field])
}

# The same, written as a kustomize secretGenerator with literal values.
deny contains msg if {
	input.kind in {"Kustomization", "Component"}
	some generator in object.get(input, "secretGenerator", [])
	count(object.get(generator, "literals", [])) > 0
	msg := sprintf("secretGenerator %q has literals in a committed file: read them from a git-ignored env file", [generator.name])
}
