package iptables

import (
	"fmt"
	"strings"
)

// rule is one "-A CHAIN args..." line of "iptables -S".
type rule struct {
	chain string
	args  []string
}

// listing is the output of "iptables -S", whole or for one chain.
type listing struct {
	chains []string // from "-N CHAIN" lines
	rules  []rule   // "-A" lines, in order
}

// inChain returns the rules of one chain, in order.
func (l listing) inChain(chain string) [][]string {
	var out [][]string
	for _, r := range l.rules {
		if r.chain == chain {
			out = append(out, r.args)
		}
	}
	return out
}

func (l listing) hasChain(chain string) bool {
	for _, c := range l.chains {
		if c == chain {
			return true
		}
	}
	return false
}

// parseListing reads "iptables -S" output. Lines it does not understand
// are an error: deciding what to change from half a listing is worse than
// refusing.
func parseListing(text string) (listing, error) {
	var l listing
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		toks, err := tokenize(line)
		if err != nil {
			return listing{}, fmt.Errorf("iptables -S line %d: %w", n+1, err)
		}
		switch {
		case toks[0] == "-P" && len(toks) == 3:
		case toks[0] == "-N" && len(toks) == 2:
			l.chains = append(l.chains, toks[1])
		case toks[0] == "-A" && len(toks) >= 2:
			l.rules = append(l.rules, rule{chain: toks[1], args: toks[2:]})
		default:
			return listing{}, fmt.Errorf("iptables -S line %d: unexpected %q", n+1, line)
		}
	}
	return l, nil
}

// tokenize splits one line of "iptables -S" output into arguments. iptables
// writes an argument with characters other than letters, digits, '_' and
// '-' in double quotes, escaping double quotes, backslashes and single
// quotes with a backslash.
func tokenize(line string) ([]string, error) {
	var toks []string
	var tok strings.Builder
	inTok, quoted := false, false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quoted && c == '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("backslash at the end of %q", line)
			}
			i++
			tok.WriteByte(line[i])
		case c == '"':
			quoted, inTok = !quoted, true
		case !quoted && (c == ' ' || c == '\t'):
			if inTok {
				toks = append(toks, tok.String())
				tok.Reset()
				inTok = false
			}
		default:
			tok.WriteByte(c)
			inTok = true
		}
	}
	if quoted {
		return nil, fmt.Errorf("unterminated quote in %q", line)
	}
	if inTok {
		toks = append(toks, tok.String())
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("blank line %q", line)
	}
	return toks, nil
}

// quote writes an argument as "iptables -S" would.
func quote(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' || s[i] == '\'' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// format writes a rule line that tokenize reads back into the same
// arguments (iptables itself quotes only some arguments).
func format(chain string, args []string) string {
	parts := []string{"-A", quote(chain)}
	for _, a := range args {
		parts = append(parts, quote(a))
	}
	return strings.Join(parts, " ")
}
