package packet

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portknock/knock"
	"github.com/portknock/knock/source"
)

// vector is one file of testdata/vectors: a frame and what it must parse to.
type vector struct {
	name  string
	frame []byte
	err   error      // the sentinel wanted, or nil for a hit
	hit   source.Hit // the hit wanted
	plen  int        // the payload length wanted, when the file gives it instead of the bytes
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	files, err := filepath.Glob("testdata/vectors/*.hex")
	if err != nil || len(files) == 0 {
		tb.Fatalf("no vectors in testdata/vectors/*.hex (err %v)", err)
	}
	var vs []vector
	for _, file := range files {
		v, err := readVector(file)
		if err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		vs = append(vs, v)
	}
	return vs
}

func readVector(file string) (vector, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return vector{}, err
	}
	v := vector{name: strings.TrimSuffix(filepath.Base(file), ".hex"), plen: -1}
	var body strings.Builder
	want := ""
	for _, line := range strings.Split(string(b), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			want = w
		} else if !strings.HasPrefix(line, "#") {
			body.WriteString(strings.TrimSpace(line))
		}
	}
	if v.frame, err = hex.DecodeString(body.String()); err != nil {
		return v, err
	}
	return v, v.parseWant(want)
}

// parseWant reads "truncated", "malformed", "not-knock" or
// "hit PROTO SRC DST PORT [payload=HEX | payload-len=N]".
func (v *vector) parseWant(want string) error {
	f := strings.Fields(want)
	switch {
	case want == "truncated":
		v.err = ErrTruncated
		return nil
	case want == "malformed":
		v.err = ErrMalformed
		return nil
	case want == "not-knock":
		v.err = ErrNotKnock
		return nil
	case len(f) < 5 || len(f) > 6 || f[0] != "hit":
		return fmt.Errorf("bad want line %q", want)
	}
	var err error
	h := source.Hit{Proto: knock.Proto(f[1])}
	if h.Src, err = netip.ParseAddr(f[2]); err != nil {
		return err
	}
	if h.Dst, err = netip.ParseAddr(f[3]); err != nil {
		return err
	}
	port, err := strconv.ParseUint(f[4], 10, 16)
	if err != nil {
		return err
	}
	h.Port = uint16(port)
	if len(f) == 6 {
		if p, ok := strings.CutPrefix(f[5], "payload="); ok {
			h.Payload, err = hex.DecodeString(p)
		} else if n, ok := strings.CutPrefix(f[5], "payload-len="); ok {
			v.plen, err = strconv.Atoi(n)
		} else {
			err = fmt.Errorf("bad payload in %q", want)
		}
	}
	v.hit = h
	return err
}

// check compares a parse result with the vector's want.
func (v *vector) check(got source.Hit, err error) error {
	if v.err != nil || err != nil {
		if !errors.Is(err, v.err) || (v.err == nil) != (err == nil) {
			return fmt.Errorf("error %v, want %v", err, v.err)
		}
		return nil
	}
	if v.plen >= 0 && len(got.Payload) != v.plen {
		return fmt.Errorf("payload of %d bytes, want %d", len(got.Payload), v.plen)
	}
	want := v.hit
	if v.plen >= 0 {
		want.Payload = got.Payload
	}
	if !sameHit(got, want) {
		return fmt.Errorf("got %s\nwant %s", hitString(got), hitString(want))
	}
	return nil
}

func sameHit(a, b source.Hit) bool {
	return a.Src == b.Src && a.Dst == b.Dst && a.Proto == b.Proto && a.Port == b.Port &&
		bytes.Equal(a.Payload, b.Payload) && a.Time.Equal(b.Time)
}

func hitString(h source.Hit) string {
	return fmt.Sprintf("%s %s->%s:%d payload %x", h.Proto, h.Src, h.Dst, h.Port, h.Payload)
}

// ipPart returns the IP packet inside an untagged IPv4 or IPv6 frame, as
// NFLOG would deliver it.
func ipPart(frame []byte) ([]byte, bool) {
	if len(frame) < etherHeader {
		return nil, false
	}
	switch typ := uint16(frame[12])<<8 | uint16(frame[13]); typ {
	case etherIPv4, etherIPv6:
		return frame[etherHeader:], true
	}
	return nil, false
}

// TestVectors parses every vector as a frame and, when it is an untagged IP
// frame, its IP packet alone, as NFLOG would hand it over.
func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.name, func(t *testing.T) {
			if err := v.check(ParseFrame(v.frame)); err != nil {
				t.Errorf("ParseFrame: %v", err)
			}
			ip, ok := ipPart(v.frame)
			if !ok {
				return
			}
			hit, err := ParseIP(ip)
			if v.name == "bad-ip4-version" { // read as IPv6, it is cut short
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("ParseIP: %v, want %v", err, ErrTruncated)
				}
				return
			}
			if err := v.check(hit, err); err != nil {
				t.Errorf("ParseIP: %v", err)
			}
		})
	}
}
