package conffile

import (
	"strings"
	"unicode"
)

func toLower(r rune) rune { return unicode.ToLower(r) }

// build is the second pass, Config::General's _parse: it splits each chunk
// into key and value or recognises a block tag, and nests the blocks.
func (p *parser) build(name string) (*Block, error) {
	root := &Block{Pos: Pos{File: name}}
	stack := []*Block{root}
	for _, c := range p.chunks {
		rx := rxFor(c.uni)
		s := strings.TrimSuffix(c.text, "\n") // chomp
		s = rx.trimRight(rx.trimLeft(s))
		top := stack[len(stack)-1]

		if strings.HasPrefix(s, "<") && strings.HasSuffix(s, ">") {
			if m := rx.blockStart.FindStringSubmatch(s); m != nil {
				b := blockTag(rx, m[1])
				if len(stack) > p.o.maxNesting {
					return nil, errorf(c.pos, "block %q nested more than %d deep", b.Name, p.o.maxNesting)
				}
				b.Pos = c.pos
				top.Items = append(top.Items, Item{Key: b.Name, Block: b, Pos: c.pos})
				stack = append(stack, b)
				continue
			}
			if m := rx.blockEnd.FindStringSubmatch(s); m != nil {
				if len(stack) == 1 {
					if c.synth {
						return nil, errorf(c.pos, "%q ends like an empty block \"<name/>\", which must stand on a line of its own", c.from)
					}
					return nil, errorf(c.pos, "unexpected %q: no block is open", s)
				}
				// Config::General closes the innermost block whatever the
				// closing tag says; here it has to name that block.
				if !c.synth && !closes(rx, m[1], top) {
					return nil, errorf(c.pos, "%q does not close block %q opened at %s", s, top.Name, top.Pos)
				}
				stack = stack[:len(stack)-1]
				continue
			}
		}

		key, value, bare := splitOption(rx, s)
		it := Item{Key: rx.lower(key), Bare: bare, Pos: c.pos}
		if !bare {
			it.Value = unescape(value)
		}
		top.Items = append(top.Items, it)
	}
	if len(stack) > 1 {
		// The outermost, as Config::General reports it (and as it fails to
		// when that block's name is "0" or empty).
		b := stack[1]
		return nil, errorf(b.Pos, "block %q opened here is never closed", b.Name)
	}
	return root, nil
}

// splitOption splits "key value", "key = value" or a here-document chunk,
// and strips one pair of double quotes around the value.
func splitOption(rx *regexps, s string) (key, value string, bare bool) {
	var loc []int
	if strings.Contains(s, heredocSep) {
		loc = rx.sepSplit.FindStringIndex(s)
	} else {
		loc = rx.split.FindStringIndex(s)
	}
	if loc == nil {
		return s, "", true
	}
	key, value = s[:loc[0]], s[loc[1]:]
	if perlTrue(value) && strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`) {
		value = value[1:]
		value = strings.TrimSuffix(value, `"`)
	}
	return key, value, false
}

// blockTag makes a block from the text between "<" and ">".
func blockTag(rx *regexps, tag string) *Block {
	name := tag
	var label *string
	if rx.quotedBlock.MatchString(tag) {
		name = strings.ReplaceAll(tag, `"`, "") // <"name with spaces">
	} else if m := rx.namedBlock.FindStringSubmatchIndex(tag); m != nil {
		group := func(i int) *string {
			if m[2*i] < 0 {
				return nil
			}
			g := tag[m[2*i]:m[2*i+1]]
			return &g
		}
		// $block = $1 || $2; $blockname = $3 || $4 (Perl's ||).
		or := func(a, b *string) *string {
			if a != nil && perlTrue(*a) {
				return a
			}
			return b
		}
		name = ""
		if n := or(group(1), group(2)); n != nil {
			name = *n
		}
		label = or(group(3), group(4))
	}
	b := &Block{Name: rx.lower(name)}
	if label != nil {
		b.Label, b.Named = *label, true
	}
	return b
}

// closes reports whether a closing tag "</tag>" names block b,
// case-insensitively, possibly in quotes.
func closes(rx *regexps, tag string, b *Block) bool {
	if len(tag) >= 2 && tag[0] == '"' && tag[len(tag)-1] == '"' {
		tag = tag[1 : len(tag)-1]
	}
	return rx.lower(tag) == b.Name
}

// unescape is _parse_value: \$ \\ \" \# stand for the character.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`$\"#`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// buildMap builds getall()'s hash from a block, with Config::General's
// rules for repeated keys and blocks. With strict set, a combination
// Config::General rejects is an error; otherwise it is left out.
func buildMap(b *Block, strict bool) (map[string]any, error) {
	m := map[string]any{}
	first := map[string]Pos{} // where each key was first stored
	for _, it := range b.Items {
		if it.Block == nil {
			var v any
			if !it.Bare {
				v = it.Value
			}
			if old, ok := m[it.Key]; ok {
				if list, ok := old.([]any); ok {
					m[it.Key] = append(list, v)
				} else {
					m[it.Key] = []any{old, v}
				}
			} else {
				m[it.Key] = v
				first[it.Key] = it.Pos
			}
			continue
		}

		blk := it.Block
		sub, err := buildMap(blk, strict)
		if err != nil {
			return nil, err
		}
		cur, exists := m[blk.Name]
		if blk.Named {
			if !exists {
				cur = map[string]any{}
				m[blk.Name] = cur
				first[blk.Name] = it.Pos
			}
			switch c := cur.(type) {
			case map[string]any:
				if old, ok := c[blk.Label]; ok {
					if list, ok := old.([]any); ok {
						c[blk.Label] = append(list, sub)
					} else {
						c[blk.Label] = []any{old, sub}
					}
				} else {
					c[blk.Label] = sub
				}
			case []any:
				if strict {
					return nil, errorf(it.Pos, "named block %q %q clashes with the repeated %q first set at %s",
						blk.Name, blk.Label, blk.Name, first[blk.Name])
				}
			default:
				if strict {
					return nil, errorf(it.Pos, "block %q clashes with the value %q set at %s", blk.Name, blk.Name, first[blk.Name])
				}
			}
			continue
		}
		if !exists {
			m[blk.Name] = sub
			first[blk.Name] = it.Pos
			continue
		}
		switch c := cur.(type) {
		case []any:
			m[blk.Name] = append(c, sub)
		case map[string]any:
			m[blk.Name] = []any{c, sub}
		default:
			if strict {
				return nil, errorf(it.Pos, "block %q clashes with the value %q set at %s", blk.Name, blk.Name, first[blk.Name])
			}
		}
	}
	return m, nil
}
