// The hook template engine (docs/decisions/0009-hook-templates-in-wasm.md): Go text/template with the sprig
// function set, run on Stash's hook summary. One request in, one response out, both JSON. What it does to a text is
// what Stash's hook executor does to each exec argument and httpPost body containing `{{` (apimachinery's
// pkg/hooks/hook.go, renderTemplate): the template named hook-template, sprig's TxtFuncMap, missingkey=default,
// the output trimmed of surrounding white space.
package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"text/template"

	sprig "github.com/Masterminds/sprig/v3"
)

// The shape Stash renders hook templates against: its summary type with the same Go field names, types and
// JSON names (a template may print `toJson .`). APIGroup is a pointer as in core TypedLocalObjectReference.
type invokerRef struct {
	APIGroup *string `json:"apiGroup"`
	Kind     string  `json:"kind"`
	Name     string  `json:"name"`
}

type targetRef struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	Name       string `json:"name,omitempty"`
	Namespace  string `json:"namespace,omitempty"`
}

type targetStatus struct {
	Phase    string `json:"phase,omitempty"`
	Duration string `json:"duration,omitempty"`
	Error    string `json:"error,omitempty"`
}

type summary struct {
	Name      string       `json:"name"`
	Namespace string       `json:"namespace"`
	Invoker   invokerRef   `json:"invoker"`
	Target    targetRef    `json:"target"`
	Status    targetStatus `json:"status"`
	RetryLeft int32        `json:"retryLeft,omitempty"`
}

type request struct {
	Template string `json:"template"`
	// Parse only (admission): no data, nothing executed.
	ParseOnly bool    `json:"parseOnly"`
	Data      summary `json:"data"`
}

type response struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

// Stash's name for the template: Go's parse and execution errors start with it ("template: hook-template:1: …").
const templateName = "hook-template"

// Built once: sprig makes a fresh map of ~200 functions per call.
var funcs = sprig.TxtFuncMap()

func handle(in []byte) []byte {
	var req request
	var res response
	if err := json.Unmarshal(in, &req); err != nil {
		res.Error = "bad request: " + err.Error()
	} else if t, err := template.New(templateName).Funcs(funcs).Option("missingkey=default").Parse(req.Template); err != nil {
		res.Error = err.Error()
	} else if !req.ParseOnly {
		var out bytes.Buffer
		if err := t.Execute(&out, req.Data); err != nil {
			res.Error = err.Error()
		} else {
			// Stash sends the rendered text with leading and trailing white space cut (Go's unicode.IsSpace set):
			// a YAML `body: |` block's final newline never reaches the endpoint or the exec argument.
			res.Output = strings.TrimSpace(out.String())
		}
	}
	b, _ := json.Marshal(res)
	return b
}
