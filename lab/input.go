package lab

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
)

// input is the knock's contents as the form gives them, each with whether
// it was given at all: which fields are required depends on the format.
type input struct {
	values  legacy.Values
	hasIP   bool
	hasPort bool
	hasRand bool
	extra   []int // flags from the flags field, in order, FLAG0 and FLAG1 aside
}

// The flags the page has fields of its own for.
const (
	timeFlag = 0 // the time flag is FLAG0
	maskFlag = 1 // the mask is FLAG1
)

func readInput(f Form, errs Errors) input {
	in := input{values: legacy.Values{Flags: map[int]int{}}}
	var err error
	if strings.TrimSpace(f.IP) != "" {
		in.hasIP = true
		if in.values.Client, err = parseIP(f.IP); err != nil {
			errs.add("ip", "%v", err)
		}
	}
	in.readPort(f, errs)
	if strings.TrimSpace(f.Time) != "" {
		if in.values.Flags[timeFlag], err = parseByte(f.Time, "time flag"); err != nil {
			errs.add("time", "%v", err)
		}
	}
	if strings.TrimSpace(f.Mask) != "" {
		if in.values.Flags[maskFlag], err = parseMask(f.Mask); err != nil {
			errs.add("mask", "%v", err)
		}
	}
	in.readFlags(f, errs)
	if strings.TrimSpace(f.Rand) != "" {
		in.hasRand = true
		if in.values.Rand, err = parseByte(f.Rand, "RAND value"); err != nil {
			errs.add("rand", "%v", err)
		}
	}
	return in
}

// readPort reads the custom port, which takes precedence, or the service.
func (in *input) readPort(f Form, errs Errors) {
	field, text := "port", f.Port
	if strings.TrimSpace(text) == "" {
		field, text = "service", f.Service
	}
	if strings.TrimSpace(text) == "" {
		return
	}
	in.hasPort = true
	p, err := parsePort(text)
	if err != nil {
		errs.add(field, "%v", err)
	}
	in.values.Port = p
}

func (in *input) readFlags(f Form, errs Errors) {
	flags, order, err := parseFlags(f.Flags)
	if err != nil {
		errs.add("flags", "%v", err)
		return
	}
	for _, n := range order {
		if _, dup := in.values.Flags[n]; dup {
			errs.add("flags", "FLAG%d is the %s: give it in one place", n, roles[fmt.Sprintf("FLAG%d", n)])
			continue
		}
		in.values.Flags[n] = flags[n]
		if n != timeFlag && n != maskFlag {
			in.extra = append(in.extra, n)
		}
	}
}

// derive builds the knock format from the fields given:
// CLIENT,PORT,FLAG0[,FLAG1][,FLAGn...],CHECKSUM, with PORT16 for a port
// above 255.
func (in input) derive(notes *[]string) format.Format {
	fields := []string{"CLIENT", "PORT", "FLAG0"}
	if p := in.values.Port; p > 255 {
		fields[1] = "PORT16"
		*notes = append(*notes, fmt.Sprintf("port %d does not fit in one byte: the knock carries it as PORT16, two bytes; the daemon's knock format must say PORT16 too", p))
	}
	if _, ok := in.values.Flags[maskFlag]; ok {
		fields = append(fields, "FLAG1")
	}
	for _, n := range in.extra {
		fields = append(fields, fmt.Sprintf("FLAG%d", n))
	}
	return format.MustParse(strings.Join(append(fields, "CHECKSUM"), ","))
}

// require checks that the format's every field has a value, and notes the
// values given that the format does not carry.
func (in input) require(fm format.Format, errs Errors, notes *[]string) {
	if fm.Has(format.Client) && !in.hasIP {
		errs.add("ip", "required: the knock carries the client's IP address (CLIENT)")
	}
	if carriesPort := fm.Has(format.Port) || fm.Has(format.Port16); carriesPort && !in.hasPort {
		errs.add("port", "required: choose a service or type a port")
	} else if fm.Has(format.Port) && in.values.Port > 255 {
		errs.add("port", "port %d does not fit the one-byte PORT field (0-255): write PORT16 in the knock format, or leave the format blank and the lab chooses", in.values.Port)
	}
	used := map[int]bool{}
	for _, n := range fm.Flags() {
		used[n] = true
		if _, ok := in.values.Flags[n]; ok {
			continue
		}
		switch n {
		case timeFlag:
			errs.add("time", "required: the knock format has FLAG0, the time flag")
		case maskFlag:
			errs.add("mask", "required: the knock format has FLAG1, the mask (32 for a single host)")
		default:
			errs.add("flags", "the knock format has FLAG%d: give it a value here, such as FLAG%d=0", n, n)
		}
	}
	in.noteUnused(fm, used, notes)
}

func (in input) noteUnused(fm format.Format, used map[int]bool, notes *[]string) {
	unused := func(what, field string) {
		*notes = append(*notes, fmt.Sprintf("the knock format has no %s: the %s is not sent", field, what))
	}
	if in.hasIP && !fm.Has(format.Client) {
		unused("IP address", "CLIENT")
	}
	if in.hasPort && !fm.Has(format.Port) && !fm.Has(format.Port16) {
		unused("port", "PORT")
	}
	for _, n := range slices.Sorted(maps.Keys(in.values.Flags)) {
		if !used[n] {
			what := roles[fmt.Sprintf("FLAG%d", n)]
			if what == "" || n > maskFlag {
				what = "flag"
			}
			unused(what, fmt.Sprintf("FLAG%d", n))
		}
	}
	if in.hasRand && !fm.Has(format.Rand) {
		unused("RAND value", "RAND")
	}
}
