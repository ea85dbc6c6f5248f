package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/portknock/knock"
	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
)

// attempt is one knock format tried on a pasted sequence.
type attempt struct {
	codec *legacy.Codec
	trace legacy.Trace
	err   error
}

func (legacyMode) decode(_ context.Context, l *Lab, f Form) (*Result, Errors) {
	errs := Errors{}
	s := readSetup(f, errs)
	ports, err := parseSequence(f.Sequence)
	if err != nil {
		errs.add("sequence", "%v", err)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	derived := s.format.IsZero()
	formats := []format.Format{s.format}
	if derived {
		formats = candidates(f)
	}
	tries, err := s.try(l, formats, ports, derived)
	if err != nil {
		return nil, Errors{"form": err.Error()}
	}
	best := pick(tries)
	if legacy.Reason(best.err) == "decrypt" {
		// Whatever the codec got to, nothing decrypted: show no plain bytes.
		best.trace.Plain, best.trace.Values = nil, legacy.Values{}
	}
	r := newResult("decode", best.codec, best.trace)
	r.FormatDerived, r.Notes = derived, s.notes
	if best.err != nil {
		if best.trace.Sealed == nil {
			r = nil // nothing was read that is worth showing
		}
		return r, decodeErrors(best, tries)
	}
	r.OK = true
	r.Fields = fieldsOf(best.codec.Format(), best.trace)
	r.Notes = append(r.Notes, alsoDecodes(best, tries)...)
	return r, nil
}

// try decodes ports with each format. A derived format's FLAG1 is a mask,
// so a reading whose FLAG1 is no mask is not one the lab could have made.
func (s setup) try(l *Lab, formats []format.Format, ports []uint16, derived bool) ([]attempt, error) {
	var tries []attempt
	for _, fm := range formats {
		c, err := s.codec(l, fm, false)
		if err != nil {
			return nil, err
		}
		tr, err := c.DecodeTrace(ports)
		if err == nil && derived && !maskFits(fm, tr.Values) {
			continue
		}
		tries = append(tries, attempt{c, tr, err})
	}
	return tries, nil
}

// candidates are the formats the lab may have derived, tried in turn when
// decoding without an explicit format; the fields still in the form (a
// mask, a port above 255) put their layouts first.
func candidates(f Form) []format.Format {
	wide, masked := false, strings.TrimSpace(f.Mask) != ""
	for _, t := range []string{f.Port, f.Service} {
		if p, err := parsePort(t); err == nil && strings.TrimSpace(t) != "" {
			wide = p > 255
			break
		}
	}
	type layout struct{ wide, masked bool }
	// Ports above 255 are common and masks rare, so PORT16 comes first.
	ls := []layout{{false, false}, {true, false}, {false, true}, {true, true}}
	score := func(x layout) int {
		n := 0
		if x.wide == wide {
			n++
		}
		if x.masked == masked {
			n++
		}
		return n
	}
	slices.SortStableFunc(ls, func(a, b layout) int { return score(b) - score(a) })
	out := make([]format.Format, len(ls))
	for i, x := range ls {
		fields := []string{"CLIENT", "PORT", "FLAG0"}
		if x.wide {
			fields[1] = "PORT16"
		}
		if x.masked {
			fields = append(fields, "FLAG1")
		}
		out[i] = format.MustParse(strings.Join(append(fields, "CHECKSUM"), ","))
	}
	return out
}

// maskFits reports whether FLAG1, if the format has it, is 0-32.
func maskFits(fm format.Format, v legacy.Values) bool {
	return !slices.Contains(fm.Flags(), maskFlag) || v.Flag(maskFlag) <= 32
}

// progress ranks how far a failed decode got: the attempt that got
// furthest explains the failure best.
var progress = map[knock.Reason]int{"length": 0, "span": 1, "decrypt": 2, "checksum": 3}

func pick(tries []attempt) attempt {
	best := tries[0]
	for _, t := range tries {
		if t.err == nil {
			return t
		}
		if progress[legacy.Reason(t.err)] > progress[legacy.Reason(best.err)] {
			best = t
		}
	}
	return best
}

// decodeErrors explains why a sequence did not decode, next to the field
// most likely at fault.
func decodeErrors(a attempt, tries []attempt) Errors {
	err := a.err
	switch legacy.Reason(err) {
	case "length":
		var lengths []int
		for _, t := range tries {
			lengths = append(lengths, t.codec.Lengths()...)
		}
		return Errors{"sequence": fmt.Sprintf("wrong knock length: %d ports; with this cipher, span and knock format a knock has %s ports",
			len(a.trace.Ports), rangesText(lengths))}
	case "span":
		return Errors{"sequence": err.Error()}
	case "decrypt":
		if noHeader(a) {
			return Errors{"sequence": fmt.Sprintf("%d ports is the length of a knock with a random IV, but this one does not start with the RandomIV header (a damaged knock, or another cipher or span)", len(a.trace.Ports))}
		}
		return Errors{"password": decryptText(a)}
	case "checksum":
		return Errors{"sequence": fmt.Sprintf("%v; received %s", err, valuesText(a.codec.Format(), a.trace.Values))}
	}
	return Errors{"form": err.Error()}
}

func decryptText(a attempt) string {
	const head = "does not decrypt with this key: "
	if errors.Is(a.err, cbc.ErrPadding) {
		return head + "bad padding (a wrong password or cipher, or a damaged knock)"
	}
	return head + strings.TrimPrefix(a.err.Error(), legacy.ErrDecrypt.Error()+": ")
}

// noHeader reports whether a knock failed because it is as long as a
// RandomIV knock (longer than a fixed-IV one) but does not start with the
// header: no key is at fault.
func noHeader(a attempt) bool {
	fixed := a.codec.Lengths()[0]
	return len(a.trace.Ports) > fixed && !bytes.HasPrefix(a.trace.Sealed, []byte(cbc.Header))
}

// rangesText writes a set of numbers compactly: "8 or 17-24".
func rangesText(ns []int) string {
	slices.Sort(ns)
	ns = slices.Compact(ns)
	var runs []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j > i {
			runs = append(runs, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		} else {
			runs = append(runs, strconv.Itoa(ns[i]))
		}
		i = j + 1
	}
	if len(runs) < 2 {
		return strings.Join(runs, "")
	}
	return strings.Join(runs[:len(runs)-1], ", ") + " or " + runs[len(runs)-1]
}

// alsoDecodes notes the other derived formats a knock decodes with: some
// layouts have the same length (CLIENT,PORT,FLAG0,FLAG1,CHECKSUM and
// CLIENT,PORT16,FLAG0,CHECKSUM are both 8 bytes), and only the knock
// format can tell them apart.
func alsoDecodes(best attempt, tries []attempt) []string {
	var notes []string
	for _, t := range tries {
		if t.err == nil && t.codec != best.codec {
			notes = append(notes, fmt.Sprintf("this knock also decodes as %s (%s): write the knock format under advanced to choose",
				t.codec.Format(), valuesText(t.codec.Format(), t.trace.Values)))
		}
	}
	return notes
}

// fieldsOf is the form filled back from a decoded knock: every value field,
// empty when the knock does not carry it.
func fieldsOf(fm format.Format, tr legacy.Trace) map[string]string {
	out := map[string]string{}
	for _, k := range legacyValues {
		out[k] = ""
	}
	v := tr.Values
	var flags []string
	for _, fl := range fm.Fields() {
		switch fl.Kind {
		case format.Client:
			out["ip"] = v.Client.String()
		case format.Port, format.Port16:
			out["port"] = strconv.Itoa(v.Port)
			if serviceName(v.Port) != "" {
				out["service"], out["port"] = out["port"], ""
			}
		case format.Rand:
			out["rand"] = strconv.Itoa(v.Rand)
		case format.Flag:
			switch x := v.Flag(fl.N); {
			case fl.N == timeFlag:
				out["time"] = strconv.Itoa(x)
			case fl.N == maskFlag && x <= 32:
				out["mask"] = strconv.Itoa(x)
			default:
				flags = append(flags, fmt.Sprintf("FLAG%d=%d", fl.N, x))
			}
		}
	}
	out["flags"] = strings.Join(flags, " ")
	if tr.IV != nil {
		out["iv"] = "on"
	}
	out["sequence"] = joinPorts(tr.Ports)
	return out
}
