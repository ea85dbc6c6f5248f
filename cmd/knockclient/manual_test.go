package main

import (
	"crypto/rand"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/internal/manpage"
	"github.com/portknock/knock/settings"
)

// TestManualRenders: -man's text comes from knockclient.1 through
// internal/manpage, which refuses requests it does not know; so the page
// renders whole, with no troff left in it.
func TestManualRenders(t *testing.T) {
	text, err := manpage.Render("knockclient.1", manual)
	if err != nil {
		t.Fatal(err)
	}
	for _, leftover := range []string{`\f`, `\-`, "\n."} {
		if strings.Contains(text, leftover) {
			t.Errorf("rendered manual contains %q", leftover)
		}
	}
}

// entries returns the text of each OPTIONS entry of the page, by the
// parameter or switch it documents.
func entries(t *testing.T) map[string]string {
	t.Helper()
	tag := regexp.MustCompile(`^\.BI? (?:\\-)?([a-z]+)(?:\s|$)`)
	out := map[string]string{}
	lines := strings.Split(manual, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != ".TP" || i+1 >= len(lines) {
			continue
		}
		m := tag.FindStringSubmatch(lines[i+1])
		if m == nil {
			continue
		}
		var body []string
		for j := i + 2; j < len(lines) && lines[j] != ".TP" && !strings.HasPrefix(lines[j], ".SH"); j++ {
			body = append(body, lines[j])
		}
		if _, seen := out[m[1]]; !seen {
			out[m[1]] = strings.Join(body, " ")
		}
	}
	return out
}

// TestManualDocumentsEveryParameter: every parameter and switch of the
// client has an entry in the manual, and an entry that states a default
// states the one the settings use.
func TestManualDocumentsEveryParameter(t *testing.T) {
	e := entries(t)
	for _, p := range settings.Params(settings.Client) {
		body, ok := e[p.Name]
		if !ok {
			t.Errorf("the manual has no entry for %s (%s)", p.Name, p.Help)
			continue
		}
		if p.CLIOnly || p.Kind == settings.Bool && (p.Name == "test" || p.Name == "quiet") || p.Name == "debug" {
			continue
		}
		if p.Default == "" {
			if strings.Contains(body, "Default ") {
				t.Errorf("%s: the manual states a default, the settings have none", p.Name)
			}
			continue
		}
		want := regexp.MustCompile(`Default "?` + regexp.QuoteMeta(p.Default) + `"?[.:]`)
		if !want.MatchString(body) {
			t.Errorf("%s: the manual's entry does not say \"Default %s.\": %s", p.Name, p.Default, body)
		}
	}
	if _, ok := e["flag"]; !ok {
		t.Error("the manual has no entry for flagN")
	}
}

// TestManualExitStatus: the EXIT STATUS section lists the codes run
// returns, and the usage mentions each.
func TestManualExitStatus(t *testing.T) {
	_, section, _ := strings.Cut(manual, ".SH EXIT STATUS\n")
	section, _, _ = strings.Cut(section, ".SH ")
	for _, code := range []int{exitOK, exitUsage, exitSend, exitClosed, exitUndecodable} {
		if !strings.Contains(section, fmt.Sprintf(".TP\n.B %d\n", code)) {
			t.Errorf("EXIT STATUS does not list %d", code)
		}
		if !strings.Contains(usage, fmt.Sprintf("%d ", code)) {
			t.Errorf("the usage does not mention exit status %d", code)
		}
	}
}

// TestManualIVCost: what the iv entry says a random IV costs is what cbc
// adds, for each cipher: the RandomIV header and an IV of one block.
func TestManualIVCost(t *testing.T) {
	body := entries(t)["iv"]
	clause := regexp.MustCompile(`(\d+) bytes longer with ([A-Za-z, ]+?) \(`)
	said := map[string]string{}
	for _, m := range clause.FindAllStringSubmatch(body, -1) {
		for _, name := range regexp.MustCompile(`,\s*|\s+or\s+`).Split(m[2], -1) {
			said[name] = m[1]
		}
	}
	plain := []byte("a knock of 15 b")
	for _, name := range cbc.Names() {
		c, err := cbc.New(name, "passphrase")
		if err != nil {
			t.Fatal(err)
		}
		fixed, err := c.Encrypt(plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		random, err := c.Encrypt(plain, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		want := strconv.Itoa(len(random) - len(fixed))
		switch said[name] {
		case want:
		case "":
			t.Errorf("the iv entry does not say how much longer a random IV makes a %s knock (%s bytes): %s", name, want, body)
		default:
			t.Errorf("the iv entry says a random IV makes a %s knock %s bytes longer, cbc makes it %s longer: %s", name, said[name], want, body)
		}
	}
}
