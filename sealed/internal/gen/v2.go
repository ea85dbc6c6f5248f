package main

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"log"
	"slices"
	"strings"
)

// Version 2, from docs/sealed.md ("Version 2"): its own few lines again.

var (
	keyC = seededKey("sealed test key C") // carol's old key
	keyD = seededKey("sealed test key D") // carol's new key
)

const server = "gate-a.example.net"

// user is a keyring entry of a vector.
type user struct {
	name string
	keys [][]byte
}

var (
	alice      = user{"alice", [][]byte{keyA}}
	bob        = user{"bob", [][]byte{keyB}}
	carolRoll  = user{"carol", [][]byte{keyC, keyD}} // in a rollover
	carolNew   = user{"carol", [][]byte{keyD}}       // the old key removed
	threeUsers = []user{alice, bob, carolRoll}
	periodSecs = int64(60)
)

func subkeyV2(key []byte, purpose, u, s string) []byte {
	info := "knock sealed v2 " + purpose + string([]byte{byte(len(u))}) + u + string([]byte{byte(len(s))}) + s
	k, err := hkdf.Key(sha256.New, key, nil, info, 32)
	if err != nil {
		log.Fatal(err)
	}
	return k
}

func hmacOf(key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func bucket(t int64) int64 {
	b := t / periodSecs
	if t%periodSecs < 0 {
		b--
	}
	return b
}

func hintV2(key []byte, u, s string, b int64) []byte {
	return hmacOf(subkeyV2(key, "hint", u, s), binary.BigEndian.AppendUint64(nil, uint64(b)))[:2]
}

// sealing is how a vector's version 2 message is made; the zero tweaks
// follow the specification.
type sealing struct {
	key          []byte
	user, server string
	hint         []byte // another hint than the sender's
	offset       int    // > 0: this offset in the bucket before time's (an authentic 60)
}

func (m msg) headerV2() byte { return m.header() + 0x10 }

func (m msg) bodyV2(offset int64) []byte {
	b := byte(offset) << 2
	if m.close {
		b |= 2
	}
	if m.udp {
		b |= 1
	}
	out := binary.BigEndian.AppendUint16([]byte{b}, m.port)
	out = append(out, m.code)
	return binary.BigEndian.AppendUint16(out, m.nonce)
}

// sealV2 returns the wire bytes and the replay ID.
func sealV2(s sealing, m msg) ([]byte, []byte) {
	bk := bucket(m.time)
	off := m.time - bk*periodSecs
	if s.offset > 0 { // an offset the spec forbids, read in the bucket before
		bk = bucket(m.time) - 1
		off = int64(s.offset)
	}
	hint := s.hint
	if hint == nil {
		hint = hintV2(s.key, s.user, s.server, bk)
	}
	family := []byte{4}
	if m.addr.Is6() {
		family = []byte{6}
	}
	h := []byte{m.headerV2()}
	body := m.bodyV2(off)
	full := hmacOf(subkeyV2(s.key, "authentication", s.user, s.server), h, hint, family, m.addr.AsSlice(),
		binary.BigEndian.AppendUint64(nil, uint64(m.time)), body)
	tag := full[:8]
	pad := hmacOf(subkeyV2(s.key, "encryption", s.user, s.server), tag)
	out := append(slices.Clone(h), hint...)
	if !m.implicit {
		out = append(out, m.addr.AsSlice()...)
	}
	for i, c := range body {
		out = append(out, c^pad[i])
	}
	return append(out, tag...), full[:16]
}

// as seals for a user's first key at the vectors' server.
func as(u user) sealing { return sealing{key: u.keys[0], user: u.name, server: server} }

func newV2Vector(name, comment string, users []user, keyringServer string, now int64) *vector {
	v := &vector{name: "v2-" + name, comment: comment}
	names := make([]string, len(users))
	for i, u := range users {
		names[i] = u.name
	}
	v.set("keyring", keyringServer).set("users", strings.Join(names, " "))
	for _, u := range users {
		keys := make([]string, len(u.keys))
		for i, k := range u.keys {
			keys[i] = keyText(k)
		}
		v.set("user-"+u.name, strings.Join(keys, " "))
	}
	return v.set("now", fmt.Sprint(now)).set("window", "60")
}

// okV2 opens to the fields it lists, and seals back (sender-*) to its bytes.
func okV2(name, comment string, users []user, s sealing, m msg, now int64) *vector {
	b, id := sealV2(s, m)
	v := newV2Vector(name, comment, users, server, now)
	if m.implicit {
		v.set("source", m.addr.String())
	}
	v.set("sealed", hexOf(b)).set("expect", "ok").expectFields(m, id).set("user", s.user)
	return v.set("sender-user", s.user).set("sender-key", keyText(s.key)).set("sender-server", s.server)
}

func badV2(name, comment string, users []user, b []byte, now int64, expect string) *vector {
	return newV2Vector(name, comment, users, server, now).set("sealed", hexOf(b)).set("expect", expect)
}

func v2Vectors() []*vector {
	var vs []*vector
	vs = append(vs, v2Positives()...)
	vs = append(vs, v2Binding()...)
	vs = append(vs, v2Flips()...)
	vs = append(vs, v2Others()...)
	vs = append(vs, v2Transport()...)
	return vs
}

func v2Positives() []*vector {
	carolOld := as(carolRoll)
	carolNewKey := sealing{key: keyD, user: "carol", server: server}
	late := v4
	late.time = t0 + 59 // the last second of the bucket
	next := v4
	next.time = t0 + 61 // the next bucket's second 1
	emptyServer := okV2("ok-empty-server", "The default (empty) server name on both sides.", threeUsers, sealing{key: keyA, user: "alice"}, v4, t0)
	emptyServer.fields[0][1] = "" // the keyring's server
	return []*vector{
		okV2("ok-ipv4", "Alice, IPv4 client, tcp 22 for 5 minutes, among three users.", threeUsers, as(alice), v4, t0+3),
		okV2("ok-ipv6", "Bob, IPv6 client, tcp 443 for an hour.", threeUsers, as(bob), v6, t0-2),
		okV2("ok-implicit", "Alice, implicit address authenticated as the source; udp 8443.", threeUsers, as(alice), im, t0),
		okV2("ok-one-user", "A keyring of one user.", []user{alice}, as(alice), v4, t0),
		emptyServer,
		okV2("ok-rollover-old-key", "Carol holds two keys (rollover) and knocks with the old one.", threeUsers, carolOld, v4, t0),
		okV2("ok-rollover-new-key", "Carol holds two keys and knocks with the new one.", threeUsers, carolNewKey, v4, t0),
		okV2("ok-offset-59", "Sealed in the last second of its bucket.", threeUsers, as(alice), late, t0+59),
		okV2("ok-previous-bucket", "Sealed 59 s before now, in the previous bucket.", threeUsers, as(alice), late, t0+118),
		okV2("ok-next-bucket", "Sealed 56 s after now (client clock ahead), in the next bucket.", threeUsers, as(alice), next, t0+5),
	}
}

// v2Binding: the knock is bound to its user key, user name and server.
func v2Binding() []*vector {
	wrongKey, _ := sealV2(sealing{key: keyB, user: "alice", server: server}, v4)
	wrongServer, _ := sealV2(sealing{key: keyA, user: "alice", server: "gate-b.example.net"}, v4)
	noServer, _ := sealV2(sealing{key: keyA, user: "alice"}, v4)
	wrongName, _ := sealV2(sealing{key: keyA, user: "Alice", server: server}, v4)
	otherHint := as(alice)
	otherHint.hint = hintV2(keyB, "bob", server, bucket(v4.time))
	hintOfBob, _ := sealV2(otherHint, v4)
	removed, _ := sealV2(as(carolRoll), v4)
	forA, _ := sealV2(as(alice), v4)
	named := badV2("bad-named-knock-default-gate", "Sealed for gate-a; this gate has the default (empty) name.", threeUsers, forA, t0, "auth")
	named.fields[0][1] = "" // the keyring's server
	return []*vector{
		badV2("bad-wrong-user-key", "Alice's name, sealed with Bob's key.", threeUsers, wrongKey, t0, "auth"),
		badV2("bad-wrong-server", "Sealed for gate-b; this is gate-a, and Alice's key is the same.", threeUsers, wrongServer, t0, "auth"),
		badV2("bad-default-server", "Sealed for the default (empty) name; this gate is named gate-a.", threeUsers, noServer, t0, "auth"),
		named,
		badV2("bad-wrong-user-name", "Sealed as \"Alice\" with alice's key: names are compared byte for byte.", threeUsers, wrongName, t0, "auth"),
		badV2("bad-hint-of-other-user", "Alice's message under Bob's hint of that bucket (the MAC covers the hint).", threeUsers, hintOfBob, t0, "auth"),
		badV2("bad-rollover-removed-key", "Carol's old key, after the rollover removed it.", []user{alice, bob, carolNew}, removed, t0, "auth"),
	}
}

// Where fields sit in a version 2 message with an IPv4 address: header,
// hint, 4 address bytes, body, tag.
const (
	off2Hint = 1
	off2Addr = 3
	off2Body = 7
	off2Tag  = 13
)

func v2Flips() []*vector {
	b, _ := sealV2(as(alice), v4)
	a := func(name, what string, i int, mask byte) *vector {
		return badV2("bad-flip-"+name, "One bit flipped in the "+what+".", threeUsers, flip(b, i, mask), t0, "auth")
	}
	return []*vector{
		a("hint", "hint (in clear: the lookup finds another slot or none)", off2Hint+1, 0x01),
		a("client", "client address", off2Addr+3, 0x01),
		a("offset", "encrypted time offset", off2Body, 0x04),
		a("close", "encrypted close flag", off2Body, 0x02),
		a("proto", "encrypted protocol flag", off2Body, 0x01),
		a("port", "encrypted port", off2Body+2, 0x01),
		a("duration", "encrypted duration code", off2Body+3, 0x01),
		a("nonce", "encrypted nonce", off2Body+5, 0x01),
		a("tag", "tag", off2Tag+7, 0x01),
		badV2("bad-unknown-flag-2", "Header 0x25: flag bit 2, which no revision defines yet.", threeUsers, flip(b, 0, 0x04), t0, "malformed"),
		badV2("bad-unknown-flag-3", "Header 0x29: flag bit 3.", threeUsers, flip(b, 0, 0x08), t0, "malformed"),
		badV2("bad-reserved-type", "Header 0x23: address type 3.", threeUsers, flip(b, 0, 0x02), t0, "malformed"),
		badV2("bad-version-3", "Header 0x31: version 3.", threeUsers, flip(b, 0, 0x10), t0, "malformed"),
	}
}

func v2Others() []*vector {
	b, _ := sealV2(as(alice), v4)
	lateMsg := v4
	lateMsg.time = t0 + 59
	late, _ := sealV2(as(alice), lateMsg)
	imb, _ := sealV2(as(alice), im)
	port0 := v4
	port0.port = 0
	p0, _ := sealV2(as(alice), port0)
	sixty := as(alice)
	sixty.offset = 60
	s60, _ := sealV2(sixty, v4)
	v1b, v1id := seal(keyA, v4)
	v1bob, v1bobID := seal(keyB, v4)
	v1ok := newV2Vector("ok-v1-one-user", "A version 1 message, opened by a keyring of one user with that user's key.", []user{alice}, server, t0).
		set("sealed", hexOf(v1b)).set("expect", "ok").expectFields(v4, v1id).set("user", "alice")
	v1named := newV2Vector("ok-v1-named-user", "A version 1 message, opened by the user the keyring names for version 1.", threeUsers, server, t0).
		set("v1-user", "bob").set("sealed", hexOf(v1bob)).set("expect", "ok").expectFields(v4, v1bobID).set("user", "bob")
	return []*vector{
		v1ok, v1named,
		badV2("bad-v1-many-users", "A version 1 message, and a keyring of three users that names no version 1 user.", threeUsers, v1b, t0, "malformed"),
		badV2("bad-v1-wrong-user", "A version 1 message under alice's key; the version 1 user is bob.", threeUsers, v1b, t0, "auth").set("v1-user", "bob"),
		badV2("bad-expired", "Sealed 61 s before now: its bucket's table is still held, the window refuses it.", threeUsers, b, t0+61, "expired"),
		badV2("bad-future", "Sealed 61 s after now, in a bucket whose table is held: the window refuses it.", threeUsers, late, t0-2, "future"),
		badV2("bad-bucket-rotated-out", "Sealed 181 s before now: its bucket's table is gone, so no key is found.", threeUsers, b, t0+181, "auth"),
		badV2("bad-replay", "The same message twice.", threeUsers, b, t0, "replay").set("times", "2"),
		badV2("bad-truncated", "The last byte cut off.", threeUsers, b[:len(b)-1], t0, "malformed"),
		badV2("bad-extended", "A byte appended.", threeUsers, append(slices.Clone(b), 0), t0, "malformed"),
		badV2("bad-header-only", "A version 2 header alone.", threeUsers, b[:1], t0, "malformed"),
		badV2("bad-implicit-wrong-source", "Implicit address, arriving from another source.", threeUsers, imb, t0, "auth").set("source", "198.51.100.10"),
		badV2("bad-implicit-no-source", "Implicit address, and no source given.", threeUsers, imb, t0, "auth"),
		badV2("bad-authentic-offset-60", "Authentic, but 60 seconds into its bucket (the next bucket's second 0 written another way).", threeUsers, s60, t0, "malformed"),
		badV2("bad-authentic-port0", "Authentic, but port 0.", threeUsers, p0, t0, "malformed"),
	}
}

func v2Transport() []*vector {
	b, id := sealV2(as(alice), v4)
	b6, id6 := sealV2(as(bob), v6)
	spa := func(msg []byte) []byte { return append([]byte("KNK\x01"), msg...) }
	p4096 := mustSpan(span4096).Pack(b)
	changed := slices.Clone(p4096)
	changed[8] ^= 1
	withPorts := func(name, comment, span string, s sealing, m msg, b []byte, id []byte) *vector {
		return newV2Vector(name, comment, threeUsers, server, t0).set("span", span).set("ports", portsText(mustSpan(span).Pack(b))).
			set("sealed", hexOf(b)).set("expect", "ok").expectFields(m, id).set("user", s.user).
			set("sender-user", s.user).set("sender-key", keyText(s.key)).set("sender-server", s.server)
	}
	return []*vector{
		withPorts("ok-ports-ipv4-span256", "Version 2 IPv4 message on 256 ports: 21 ports.", span256, as(alice), v4, b, id),
		withPorts("ok-ports-ipv4-span4096", "Version 2 IPv4 message on 4096 ports: 14 ports, as many as version 1's IPv4 message; the header tells them apart.", span4096, as(alice), v4, b, id),
		withPorts("ok-ports-ipv6-span32768", "Version 2 IPv6 message on 32768 ports: 18 ports, as many as version 1's.", span32768, as(bob), v6, b6, id6),
		newV2Vector("bad-ports-one-changed", "One port of the body changed.", threeUsers, server, t0).set("span", span4096).set("ports", portsText(changed)).set("expect", "auth"),
		newV2Vector("ok-spa-ipv4", "SPA datagram with a version 2 message.", threeUsers, server, t0).set("spa", hexOf(spa(b))).set("expect", "ok").
			expectFields(v4, id).set("user", "alice").set("sender-user", "alice").set("sender-key", keyText(keyA)).set("sender-server", server),
		newV2Vector("bad-spa-truncated", "SPA datagram one byte short.", threeUsers, server, t0).set("spa", hexOf(spa(b)[:4+len(b)-1])).set("expect", "malformed"),
	}
}
