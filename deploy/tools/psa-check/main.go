// Command psa-check evaluates the pod templates of rendered manifests with
// k8s.io/pod-security-admission, the library the API server's Pod Security
// admission runs. The conftest rules in deploy/policy restate the "restricted"
// profile in Rego; this is the reference they are checked against, so that a
// control the Rego missed (or a new one in a later Kubernetes) shows up in
// `make test-deploy` rather than as a rejected pod at deploy time.
//
//	psa-check [-level restricted] [-version latest] FILE...
//
// Exit status: 0 when every pod template is allowed, 1 when one is not, 2 on
// a usage or read error, or when the files hold no pod template at all.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

// object is the part of any manifest that says what it is and where its pod is.
type object struct {
	Kind     string            `json:"kind"`
	Metadata metav1.ObjectMeta `json:"metadata"`
	Spec     json.RawMessage   `json:"spec"`
}

type templated struct {
	Template corev1.PodTemplateSpec `json:"template"`
}

type cronJob struct {
	JobTemplate struct {
		Spec templated `json:"spec"`
	} `json:"jobTemplate"`
}

// pod returns the pod metadata and spec of a workload, or ok=false for any other kind.
func pod(obj object) (meta metav1.ObjectMeta, spec corev1.PodSpec, ok bool, err error) {
	switch obj.Kind {
	case "Pod":
		err = json.Unmarshal(obj.Spec, &spec)
		return obj.Metadata, spec, true, err
	case "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job":
		var t templated
		err = json.Unmarshal(obj.Spec, &t)
		return t.Template.ObjectMeta, t.Template.Spec, true, err
	case "CronJob":
		var c cronJob
		err = json.Unmarshal(obj.Spec, &c)
		return c.JobTemplate.Spec.Template.ObjectMeta, c.JobTemplate.Spec.Template.Spec, true, err
	}
	return meta, spec, false, nil
}

func documents(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	reader := utilyaml.NewYAMLReader(bufio.NewReader(f))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

func main() {
	levelName := flag.String("level", "restricted", "Pod Security level: baseline or restricted")
	versionName := flag.String("version", "latest", "policy version: latest or v1.N")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: psa-check [-level restricted] [-version latest] FILE...")
		os.Exit(2)
	}
	level, err := api.ParseLevel(*levelName)
	if err != nil {
		fail(err)
	}
	version, err := api.ParseVersion(*versionName)
	if err != nil {
		fail(err)
	}
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		fail(err)
	}
	levelVersion := api.LevelVersion{Level: level, Version: version}

	checked, forbidden := 0, 0
	for _, path := range flag.Args() {
		docs, err := documents(path)
		if err != nil {
			fail(err)
		}
		for _, doc := range docs {
			raw, err := yaml.YAMLToJSON(doc)
			if err != nil {
				fail(fmt.Errorf("%s: %w", path, err))
			}
			var obj object
			if err := json.Unmarshal(raw, &obj); err != nil {
				fail(fmt.Errorf("%s: %w", path, err))
			}
			meta, spec, ok, err := pod(obj)
			if err != nil {
				fail(fmt.Errorf("%s: %s/%s: %w", path, obj.Kind, obj.Metadata.Name, err))
			}
			if !ok {
				continue
			}
			checked++
			result := policy.AggregateCheckResults(evaluator.EvaluatePod(levelVersion, &meta, &spec))
			if !result.Allowed {
				forbidden++
				fmt.Printf("FAIL %s: %s/%s violates PodSecurity %q: %s\n",
					path, obj.Kind, obj.Metadata.Name, levelVersion.String(), result.ForbiddenDetail())
			}
		}
	}
	if checked == 0 {
		fail(errors.New("no pod template in the given files: nothing was checked"))
	}
	fmt.Printf("psa-check: %d pod templates checked against %s, %d forbidden\n", checked, levelVersion.String(), forbidden)
	if forbidden > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "psa-check:", err)
	os.Exit(2)
}
