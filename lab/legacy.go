package lab

import (
	"context"
	"fmt"
	"strings"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
)

// legacyMode is the prototype's knock (package legacy): fields, Crypt::CBC
// encryption, a port span.
//
// The page's fields map onto the knock format this way: IP is CLIENT, the
// port is PORT, or PORT16 when it does not fit a byte, the time flag is
// FLAG0 and the mask, when given, is FLAG1 as a prefix length. Without an
// explicit format the lab builds CLIENT,PORT,FLAG0[,FLAG1][,FLAGn...],CHECKSUM,
// the layout of the knockclient configurations in docs/compat.md.
type legacyMode struct{}

// setup is the half of the form both ends of a knock must agree on.
type setup struct {
	span   string
	cipher string // canonical name, or "none"
	key    string
	format format.Format // zero: the lab derives it
	notes  []string
}

func readSetup(f Form, errs Errors) setup {
	var s setup
	s.span = readSpan(f, errs, &s.notes)
	switch name := strings.TrimSpace(f.Cipher); {
	case name == "":
		errs.add("cipher", "choose a cipher, or none")
	case strings.EqualFold(name, "none"):
		s.cipher = "none"
		if f.Password != "" {
			s.notes = append(s.notes, "no cipher: the password is not used")
		}
	default:
		c, err := cbc.Canonical(name)
		if err != nil {
			errs.add("cipher", "unknown cipher %q: expected none or one of %s", name, strings.Join(cbc.Names(), ", "))
			break
		}
		s.cipher = c
		if f.Password == "" {
			errs.add("password", "required: the %s key is made from it", c)
		}
	}
	s.key = f.Password
	if strings.TrimSpace(f.Format) != "" {
		fm, err := parseFormat(f.Format)
		if err != nil {
			errs.add("format", "%v", err)
		}
		s.format = fm
	}
	return s
}

// readSpan returns the port span: the span field, or MINPORT-(MINPORT+255).
func readSpan(f Form, errs Errors, notes *[]string) string {
	switch {
	case strings.TrimSpace(f.Span) != "":
		sp, err := portspan.Parse(f.Span)
		if err != nil {
			errs.add("span", "%v", err)
			return ""
		}
		if strings.TrimSpace(f.MinPort) != "" {
			*notes = append(*notes, "the port span takes precedence over the minimum port")
		}
		return sp.String()
	case strings.TrimSpace(f.MinPort) != "":
		span, err := parseMinPort(f.MinPort)
		if err != nil {
			errs.add("minport", "%v", err)
		}
		return span
	}
	errs.add("minport", "required: the minimum port, or a port span under advanced")
	return ""
}

func (s setup) codec(l *Lab, fm format.Format, iv bool) (*legacy.Codec, error) {
	return legacy.New(legacy.Config{Format: fm.String(), Cipher: s.cipher, Key: s.key,
		IV: iv, Span: s.span, Rand: l.rand, Now: l.now, Location: l.loc})
}

func (legacyMode) encode(_ context.Context, l *Lab, f Form) (*Result, Errors) {
	errs := Errors{}
	s := readSetup(f, errs)
	in := readInput(f, errs)
	iv := readIV(f, s.cipher, errs)
	if len(errs) > 0 {
		return nil, errs
	}
	fm, derived := s.format, s.format.IsZero()
	if derived {
		fm = in.derive(&s.notes)
	}
	in.require(fm, errs, &s.notes)
	if len(errs) > 0 {
		return nil, errs
	}
	c, err := s.codec(l, fm, iv.on)
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	v, err := l.stamp(in, fm, &s.notes)
	if err == nil && iv.on && iv.value == nil {
		iv.value, err = l.draw(ivSize(s.cipher))
	}
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	tr, err := c.TraceWithIV(v, iv.value)
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	r := newResult("encode", c, tr)
	r.OK, r.FormatDerived, r.Notes = true, derived, s.notes
	return r, nil
}

// stamp fills in what the lab supplies: RAND unless given, and the THIS*
// fields from the lab's clock.
func (l *Lab) stamp(in input, fm format.Format, notes *[]string) (legacy.Values, error) {
	v := in.values
	if fm.Has(format.Rand) && !in.hasRand {
		b, err := l.draw(1)
		if err != nil {
			return v, err
		}
		v.Rand = int(b[0])
	}
	if fm.HasTime() {
		now := l.now().In(l.loc)
		v.Time = format.Stamp(now)
		*notes = append(*notes, "the THIS* fields come from the lab's clock: "+now.Format("2006-01-02 15:04:05 MST"))
	}
	return v, nil
}

type ivChoice struct {
	on    bool
	value []byte // explicit, or nil to draw one
}

func readIV(f Form, cipher string, errs Errors) ivChoice {
	on, err := parseSwitch(f.IV)
	if err != nil {
		errs.add("iv", "%v", err)
	}
	var c ivChoice
	if strings.TrimSpace(f.IVValue) != "" {
		if c.value, err = parseIVValue(f.IVValue); err != nil {
			errs.add("ivvalue", "%v", err)
		}
		on = true
	}
	if on && cipher == "none" {
		errs.add("iv", "an IV needs a cipher: choose one, or untick IV")
	}
	if c.value != nil && cipher != "" && cipher != "none" {
		if n := ivSize(cipher); len(c.value) > n {
			errs.add("ivvalue", "IV of %d bytes: %s takes 1 to %d", len(c.value), cipher, n)
		}
	}
	c.on = on
	return c
}

// ivSize is the block size of a cipher: the length of a random IV.
func ivSize(cipher string) int {
	c, err := cbc.New(cipher, "block size")
	if err != nil {
		return 8
	}
	return c.BlockSize()
}

func (l *Lab) draw(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := l.rand.Read(b); err != nil {
		return nil, fmt.Errorf("drawing random bytes: %w", err)
	}
	return b, nil
}
