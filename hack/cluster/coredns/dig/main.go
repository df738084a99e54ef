// Command dig is the part of BIND's dig that the upstream DNS e2e specs run in the agnhost
// image (+[no]tcp, +noall, +answer, +search, +short; A, AAAA, PTR, SRV, CNAME, TXT), so
// that the image hack/cluster builds without Alpine's bind-tools passes them. It asks the
// first nameserver of /etc/resolv.conf.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/miekg/dns"
)

func main() {
	var name string
	qtype := dns.TypeA
	tcp, search, short := false, false, false
	for _, a := range os.Args[1:] {
		switch {
		case a == "+tcp":
			tcp = true
		case a == "+notcp":
			tcp = false
		case a == "+search":
			search = true
		case a == "+short":
			short = true
		case a == "+noall", a == "+answer":
			// The answer section is all this dig prints.
		case strings.HasPrefix(a, "+"):
			fmt.Fprintf(os.Stderr, "dig: unsupported option %s\n", a)
			os.Exit(1)
		default:
			if t, ok := dns.StringToType[strings.ToUpper(a)]; ok && name != "" {
				qtype = t
			} else {
				name = a
			}
		}
	}
	if name == "" {
		fmt.Fprintln(os.Stderr, "usage: dig [+tcp|+notcp] [+noall] [+answer] [+search] [+short] NAME [TYPE]")
		os.Exit(1)
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil || len(conf.Servers) == 0 {
		fmt.Fprintln(os.Stderr, "dig: /etc/resolv.conf:", err)
		os.Exit(1)
	}
	names := []string{dns.Fqdn(name)}
	if search {
		names = conf.NameList(name)
	}
	c := &dns.Client{Timeout: 5 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	server := conf.Servers[0] + ":" + conf.Port
	for _, n := range names {
		m := new(dns.Msg)
		m.SetQuestion(n, qtype)
		r, _, err := c.Exchange(m, server)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dig:", err)
			os.Exit(9) // dig's "no reply from server"
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			continue // the next search domain, as dig +search does
		}
		for _, rr := range r.Answer {
			if short {
				fmt.Println(strings.TrimPrefix(rr.String(), rr.Header().String()))
			} else {
				fmt.Println(rr.String())
			}
		}
		return
	}
}
