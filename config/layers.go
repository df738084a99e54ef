package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// DropInDirName is the directory next to the main file whose *.toml files are read after
// it, in lexical order: /etc/crid/crid.d for /etc/crid/crid.toml.
const DropInDirName = "crid.d"

// SourceDefault marks a value nothing overrode.
const SourceDefault = "default"

// Sources says where each effective value came from, by TOML key: SourceDefault, a file
// path or "flag --name".
type Sources map[string]string

// Layers names the files of a layered configuration.
type Layers struct {
	Main      string // the main file, e.g. /etc/crid/crid.toml
	MainMayBe bool   // a missing main file is fine (it is the default path)
	DropInDir string // "" means <dir of Main>/crid.d; a missing dir is fine
}

// DropIns returns the drop-in dir in use.
func (l Layers) DropIns() string {
	if l.DropInDir != "" {
		return l.DropInDir
	}
	return filepath.Join(filepath.Dir(l.Main), DropInDirName)
}

// Files lists the files read, in order: the main file if present, then the drop-ins.
func (l Layers) Files() ([]string, error) {
	var files []string
	if _, err := os.Stat(l.Main); err == nil {
		files = append(files, l.Main)
	} else if !errors.Is(err, os.ErrNotExist) || !l.MainMayBe {
		return nil, fmt.Errorf("config: %w", err)
	}
	ents, err := os.ReadDir(l.DropIns())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("config: drop-in dir: %w", err)
	}
	for _, e := range ents {
		// Dot files are editors' and package managers' temp files, never meant to be read.
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || filepath.Ext(e.Name()) != ".toml" {
			continue
		}
		files = append(files, filepath.Join(l.DropIns(), e.Name()))
	}
	return files, nil // os.ReadDir sorts by name: the lexical order promised
}

// LoadLayers reads the defaults, then the main file, then each drop-in in lexical order:
// a later file wins per key and tables merge. Each file is strict on its own: an unknown
// key or a bad value is refused naming that file and the key. The result is validated.
func LoadLayers(l Layers) (Config, Sources, error) {
	cfg := Default()
	src := Sources{}
	for _, k := range Keys() {
		src[k] = SourceDefault
	}
	files, err := l.Files()
	if err != nil {
		return cfg, src, err
	}
	for _, f := range files {
		keys, err := decodeFile(&cfg, f)
		if err != nil {
			return cfg, src, err
		}
		for _, k := range keys {
			src[k] = f
		}
		// Validated after each file so that a bad value is blamed on the file that set it.
		if err := cfg.Validate(); err != nil {
			return cfg, src, fmt.Errorf("%s: %w", f, err)
		}
	}
	return cfg, src, nil
}

// decodeFile decodes one file over cfg and returns the top-level keys it set.
func decodeFile(cfg *Config, path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) {
			return nil, fmt.Errorf("config %s: unknown key(s):\n%s", path, strict.String())
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("config %s:%d:%d: key %s: %s", path, row, col, strings.Join(de.Key(), "."), de.Error())
		}
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	raw, err := checkDurationsQuoted(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	return keys, nil
}

// Keys lists every TOML key in the order of the Config struct.
func Keys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		key, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ",")
		keys = append(keys, key)
	}
	return keys
}

// Dump writes the effective configuration as TOML, each key followed by where its value
// came from.
func Dump(cfg Config, src Sources) (string, error) {
	var b strings.Builder
	v := reflect.ValueOf(cfg)
	for i, key := range Keys() {
		var buf bytes.Buffer
		// Inline: a table (runtime_handlers) stays on its key's one line.
		err := toml.NewEncoder(&buf).SetTablesInline(true).Encode(map[string]any{key: v.Field(i).Interface()})
		line := buf.Bytes()
		if err != nil {
			return "", fmt.Errorf("config: dump %s: %w", key, err)
		}
		fmt.Fprintf(&b, "%s  # %s\n", strings.TrimRight(string(line), "\n"), src[key])
	}
	return b.String(), nil
}

// Values returns cfg by TOML key, for reports (Status info, crid check --json).
func Values(cfg Config) map[string]any {
	v := reflect.ValueOf(cfg)
	out := map[string]any{}
	for i, key := range Keys() {
		f := v.Field(i).Interface()
		if d, ok := f.(Duration); ok {
			f = time.Duration(d).String()
		}
		out[key] = f
	}
	return out
}
