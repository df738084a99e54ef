package spec

import (
	"fmt"
	"path"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// defaultPath is set when neither the image nor the request sets PATH, as
// Docker and containerd do; many images rely on it.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processArgs merges command and args with the image as kubelet expects:
// a CRI command replaces the entrypoint and drops the image's CMD; CRI args
// alone replace CMD and keep the entrypoint.
func processArgs(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) ([]string, error) {
	command, args := cfg.GetCommand(), cfg.GetArgs()
	if len(command) == 0 {
		command = img.Entrypoint
		if len(args) == 0 {
			args = img.Cmd
		}
	}
	out := append(slices.Clone(command), args...)
	if len(out) == 0 {
		return nil, invalidf("command", "no command in the container config or the image")
	}
	return out, nil
}

// processEnv: the image's environment, then the request's, a later value
// replacing an earlier one in place; then PATH, TERM for a terminal and
// HOME from the user's passwd entry if still unset.
func processEnv(cfg *runtime.ContainerConfig, img ocispec.ImageConfig, home string) ([]string, error) {
	var env []string
	for _, kv := range img.Env {
		env = setEnv(env, kv)
	}
	for i, kv := range cfg.GetEnvs() {
		key := kv.GetKey()
		if key == "" || strings.ContainsAny(key, "=\x00") {
			return nil, invalidf(fmt.Sprintf("envs[%d].key", i), "%q is not a variable name", key)
		}
		if strings.ContainsRune(string(kv.GetValue()), 0) {
			return nil, invalidf(fmt.Sprintf("envs[%d].value", i), "must not contain NUL")
		}
		env = setEnv(env, key+"="+string(kv.GetValue()))
	}
	if !hasEnv(env, "PATH") {
		env = append(env, defaultPath)
	}
	if cfg.GetTty() && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+home)
	}
	return env, nil
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func hasEnv(env []string, key string) bool {
	return slices.ContainsFunc(env, func(kv string) bool { return envKey(kv) == key })
}

func setEnv(env []string, kv string) []string {
	key := envKey(kv)
	for i := range env {
		if envKey(env[i]) == key {
			env[i] = kv
			return env
		}
	}
	return append(env, kv)
}

// workingDir: the request's, else the image's (a relative one taken from
// "/"), else "/".
func workingDir(cfg *runtime.ContainerConfig, img ocispec.ImageConfig) (string, error) {
	if wd := cfg.GetWorkingDir(); wd != "" {
		if !path.IsAbs(wd) {
			return "", invalidf("working_dir", "%q must be absolute", wd)
		}
		return path.Clean(wd), nil
	}
	if img.WorkingDir != "" {
		return path.Clean("/" + img.WorkingDir), nil
	}
	return "/", nil
}
