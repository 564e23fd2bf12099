# Rules for the production render only.
package conveyor.prod

import data.conveyor.lib
import rego.v1

# The tag of an image reference, or "" when it has none. A port in the
# registry host (registry:5000/app) is not a tag: only a colon after the
# last slash counts.
tag(image) := t if {
	last := regex.replace(image, `^.*/`, "")
	contains(last, ":")
	t := regex.replace(last, `^[^:]*:`, "")
} else := ""

pinned_by_digest(image) if contains(image, "@sha256:")

deny contains msg if {
	some c in lib.all_containers
	not pinned_by_digest(c.image)
	tag(c.image) == ""
	msg := sprintf("%s: container %q: image %s has no tag (production needs an explicit version)", [lib.name, c.name, c.image])
}

deny contains msg if {
	some c in lib.all_containers
	not pinned_by_digest(c.image)
	tag(c.image) == "latest"
	msg := sprintf("%s: container %q: image %s uses latest (production needs an explicit version)", [lib.name, c.name, c.image])
}
