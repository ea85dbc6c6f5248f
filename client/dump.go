package client

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/portknock/knock/settings"
)

// Masked stands for a secret's value in dumps, whatever its length.
const Masked = "********"

// Dump writes every parameter of the client with its value and where the
// value came from (file:line, command line, default), as -debug -debug
// does. Secrets are masked.
func (c *Client) Dump(w io.Writer) {
	s := c.s
	file := s.File
	if file == "" {
		file = "none found"
	}
	fmt.Fprintf(w, "parameters (configuration file: %s)\n", file)
	names := []string{}
	secret := map[string]bool{}
	for _, p := range settings.Params(settings.Client) {
		names = append(names, p.Name)
		secret[p.Name] = p.Secret
	}
	for _, n := range s.Names() {
		if strings.HasPrefix(n, "flag") {
			names = append(names, n)
		}
	}
	for _, n := range names {
		v := s.Get(n)
		text := v.Text
		if secret[n] && text != "" {
			text = Masked
		} else if text == "" || strings.ContainsAny(text, " \t\"'") {
			text = strconv.Quote(text)
		}
		fmt.Fprintf(w, "  %-13s %s  (%s)\n", n, text, v.Origin)
	}
	if len(s.Ignore) > 0 {
		fmt.Fprintf(w, "  (ignored, knockdaemon's: %s)\n", strings.Join(s.Ignore, ", "))
	}
}
