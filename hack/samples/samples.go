/*
Copyright 2026 The b24-operator Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package samples reads config/samples and points them at a b24sim: the one loader of
// `make run` (hack/devenv) and `make e2e` (hack/e2e).
package samples

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Sim is where the samples are pointed.
type Sim struct {
	// URL is b24sim's base URL, for the Portal and the Metabot.
	URL string
	// WebhookCode is the inbound webhook path b24sim serves ("/rest/1/<code>/").
	WebhookCode string
	// MetabotToken is the bot token b24sim's Metabot accepts.
	MetabotToken string
	// CAPEM is b24sim's CA, put into the corp-ca ConfigMap.
	CAPEM string
}

// Load reads every manifest of dir (kustomization.yaml aside), in file order, with the
// Portal's and Metabot's URLs, the webhook and Metabot token Secrets and the CA ConfigMap
// pointed at sim.
func Load(dir string, sim Sim) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []*unstructured.Unstructured
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
		for {
			doc, err := dec.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, err
			}
			u := &unstructured.Unstructured{}
			if err := utilyaml.Unmarshal(doc, &u.Object); err != nil || len(u.Object) == 0 {
				continue
			}
			sim.point(u)
			out = append(out, u)
		}
	}
	return out, nil
}

func (sim Sim) point(u *unstructured.Unstructured) {
	switch u.GetKind() {
	case "Portal", "Metabot":
		_ = unstructured.SetNestedField(u.Object, sim.URL, "spec", "url")
	case "Secret":
		switch u.GetName() {
		case "acme-webhook":
			_ = unstructured.SetNestedField(u.Object, sim.URL+"/rest/1/"+sim.WebhookCode+"/", "stringData", "webhookURL")
		case "metabot-token":
			_ = unstructured.SetNestedField(u.Object, sim.MetabotToken, "stringData", "token")
		}
	case "ConfigMap":
		if u.GetName() == "corp-ca" {
			_ = unstructured.SetNestedField(u.Object, sim.CAPEM, "data", "ca.crt")
		}
	}
}
