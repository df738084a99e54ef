// Package cli holds crid's docker-like commands (run, ps, logs, exec, stats, pull, ...).
//
// They speak CRI gRPC only, so they drive crid or any other CRI runtime given by
// --runtime-endpoint. A "container" of these commands is one CRI pod holding one CRI
// container: the pod carries the name, the published ports and the network mode, and its
// ID is the one shown, so it stays the same when the container is started again (a CRI
// container starts only once; `crid start` makes the next attempt in the same pod).
// Pods made here carry LabelManaged; pods of anyone else (kubelet) are listed and touched
// only with --all-namespaces.
package cli
