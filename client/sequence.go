package client

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MaxSequence bounds the ports -decode reads: the longest knock of any
// configuration (a RandomIV Rijndael knock of many fields on a 2-port span)
// is far shorter.
const MaxSequence = 4096

// ParseSequence reads a knock sequence as people write it: port numbers
// separated by spaces, commas or both ("966 914", "966,914", "966, 914").
// Errors wrap ErrUndecodable.
func ParseSequence(text string) ([]uint16, error) {
	words := strings.FieldsFunc(text, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r'
	})
	if len(words) == 0 {
		return nil, fmt.Errorf("%w: no ports in %q: expected port numbers such as \"966 914 795\"", ErrUndecodable, text)
	}
	if len(words) > MaxSequence {
		return nil, fmt.Errorf("%w: %d ports: a knock has at most %d", ErrUndecodable, len(words), MaxSequence)
	}
	out := make([]uint16, len(words))
	for i, w := range words {
		p, err := strconv.ParseUint(w, 10, 16)
		if err != nil {
			why := "not a port number"
			if errors.Is(err, strconv.ErrRange) {
				why = "outside 0-65535"
			}
			return nil, fmt.Errorf("%w: %q (word %d) is %s", ErrUndecodable, w, i+1, why)
		}
		out[i] = uint16(p)
	}
	return out, nil
}

// FormatSequence writes ports as knockclient -test prints them: one line,
// separated by single spaces.
func FormatSequence(ports []uint16) string {
	var b strings.Builder
	for i, p := range ports {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(int(p)))
	}
	return b.String()
}
