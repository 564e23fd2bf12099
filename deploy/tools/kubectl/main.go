// Command kubectl is the stock kubectl, built from the published
// k8s.io/kubectl module. `make kubectl-install` builds it only where no
// kubectl is on PATH: `go install k8s.io/kubernetes/cmd/kubectl@VERSION` is
// refused because the go.mod of k8s.io/kubernetes has replace directives,
// while k8s.io/kubectl (the library behind that command) installs cleanly.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"

	// The client auth plugins (OIDC and the like) the official binary has.
	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
