package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// writeKubeconfig writes a kubeconfig for the client certificate pki/<cert>.crt talking to
// the apiserver on the host bridge.
func writeKubeconfig(c *config, path, cert string) error {
	pki := c.pki()
	text := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: crid-cluster
  cluster:
    server: https://%s:%d
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: crid-cluster
  context:
    cluster: crid-cluster
    user: %s
current-context: crid-cluster
`, hostIP, apiserverPort, filepath.Join(pki, "ca.crt"), cert,
		filepath.Join(pki, cert+".crt"), filepath.Join(pki, cert+".key"), cert)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(text), 0o600)
}
