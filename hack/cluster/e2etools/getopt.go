package main

import (
	"fmt"
	"strings"
)

type opt struct{ name, val string }

// getopt parses short options, grouped or not (-vz, -w2, -w 2; a letter followed by ':' in
// short takes an argument), and long ones (--name, --name=v, --name v; long maps a name to
// whether it takes an argument), before or after operands as the GNU and Alpine tools
// accept them; "--" ends the options. Short options come back as "v", long as "--name".
func getopt(args []string, short string, long map[string]bool) ([]opt, []string, error) {
	var opts []opt
	var operands []string
	rest := args
	for len(rest) > 0 {
		a := rest[0]
		rest = rest[1:]
		switch {
		case a == "--":
			return opts, append(operands, rest...), nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			takes, ok := long[name]
			if !ok {
				return nil, nil, fmt.Errorf("unrecognized option '--%s'", name)
			}
			if takes && !hasVal {
				if len(rest) == 0 {
					return nil, nil, fmt.Errorf("option '--%s' requires an argument", name)
				}
				val, rest = rest[0], rest[1:]
			}
			opts = append(opts, opt{"--" + name, val})
		case len(a) > 1 && a[0] == '-':
			for j := 1; j < len(a); j++ {
				k := strings.IndexByte(short, a[j])
				if k < 0 || a[j] == ':' {
					return nil, nil, fmt.Errorf("invalid option -- '%c'", a[j])
				}
				if k+1 < len(short) && short[k+1] == ':' {
					val := a[j+1:]
					if val == "" {
						if len(rest) == 0 {
							return nil, nil, fmt.Errorf("option requires an argument -- '%c'", a[j])
						}
						val, rest = rest[0], rest[1:]
					}
					opts = append(opts, opt{string(a[j]), val})
					break
				}
				opts = append(opts, opt{string(a[j]), ""})
			}
		default:
			operands = append(operands, a)
		}
	}
	return opts, operands, nil
}
