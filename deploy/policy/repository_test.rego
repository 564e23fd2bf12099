package conveyor.repository_test

import data.conveyor.repository
import rego.v1

test_secret_with_data_denied if {
	some msg in repository.deny with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}}
	contains(msg, "Secret/s")
}

test_secret_with_string_data_denied if {
	some msg in repository.deny with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
	contains(msg, "stringData")
}

test_empty_secret_passes if {
	count(repository.deny) == 0 with input as {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}
}

test_secret_generator_literals_denied if {
	kust := {"kind": "Kustomization", "secretGenerator": [{"name": "s", "literals": ["password=hunter2"]}]}
	some msg in repository.deny with input as kust
	contains(msg, "literals")
}

test_secret_generator_env_file_passes if {
	count(repository.deny) == 0 with input as {"kind": "Kustomization", "secretGenerator": [{"name": "s", "envs": ["secrets.env"]}]}
}

test_other_yaml_passes if {
	count(repository.deny) == 0 with input as {"name": "CI", "on": {"push": {}}, "jobs": {}}
}
