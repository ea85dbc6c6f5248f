package lab

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/portknock/knock/internal/testenv"
)

// The lab in a real headless Chromium, served on 127.0.0.1, driven as a
// person would: click, type, paste, read what the page shows.

// browser starts a fresh Chromium for one test and returns its tab.
func browser(t *testing.T) context.Context {
	path := testenv.NeedCommand(t, "chromium", "apt-get install chromium")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 1000),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTime := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	return ctx
}

// tab wraps a browser tab with actions that fail the test.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatal(err)
	}
}

func (b tab) value(id string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.ID(id)))
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b tab) eval(js string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// settle waits until the page has no request in flight and has shown
// its answer: the script marks the form busy from the click that sends a
// request until the answer is in the fields. Without it, a late answer
// can land in the fields the test is typing into.
func (b tab) settle() {
	b.t.Helper()
	b.waitFor(`!document.getElementById("lab").classList.contains("busy")`)
}

// waitFor waits until a JavaScript condition holds.
func (b tab) waitFor(cond string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v", cond, err)
	}
}

// post runs steps that end in a click posting the form (scripts off) and
// waits until the page the server answers with has loaded, stylesheet
// included. The Wait* actions alone are not enough: they can see the page
// the click leaves, or the new one before its stylesheet applies, and the
// text the test reads (innerText) depends on the style: without it the
// bytes of a table run together ("1428e" for "142 8e").
func (b tab) post(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	resp, err := chromedp.RunResponse(b.ctx, steps...)
	if err != nil {
		b.t.Fatal(err)
	}
	if resp.Status != 200 {
		b.t.Fatalf("the form post was answered with status %d", resp.Status)
	}
}

// console collects what the page writes to the console: with a strict CSP,
// a blocked inline script or style would show up here.
func console(t *testing.T, ctx context.Context) func() []string {
	var mu sync.Mutex
	var errs []string
	messages := chromedp.Console(ctx)
	go func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			// The API's 400 answers to bad input are expected.
			if (m.IsException() || m.Type == "error") && !strings.Contains(m.Text, "status of 400") {
				mu.Lock()
				errs = append(errs, m.URL+": "+m.Text)
				mu.Unlock()
			}
		}
	}()
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// openLab serves a test lab and opens it in a fresh browser, with scripts
// on. The test fails if the page logs an error, and the page is marked,
// so that a test can tell that it was changed in place, not reloaded.
func openLab(t *testing.T) tab {
	srv := httptest.NewServer(newTestLab(t))
	t.Cleanup(srv.Close)
	b := tab{t, browser(t)}
	consoleErrors := console(t, b.ctx)
	t.Cleanup(func() {
		if errs := consoleErrors(); len(errs) > 0 {
			t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
		}
	})
	b.do(chromedp.Navigate(srv.URL), chromedp.WaitVisible(chromedp.ID("sample")))
	b.eval(`window.stillHere = "yes"`)
	return b
}

// TestBrowser: fill with sample values, encrypt, read the knock; clear,
// paste the knock, decrypt and see the fields restored; type a bad IP and
// see the error next to it. All in place, without reloading the page.
func TestBrowser(t *testing.T) {
	b := openLab(t)

	b.do(chromedp.Click(chromedp.ID("sample")))
	b.settle()
	b.waitFor(`document.getElementById("sequence").value !== ""`)
	b.do(chromedp.Click(chromedp.ID("encode")))
	b.settle()
	b.waitFor(`document.getElementById("knock-out") !== null`)
	if seq := b.value("sequence"); seq != SampleSequence {
		t.Fatalf("knock %q, want %q", seq, SampleSequence)
	}
	if rows := b.eval(`String(document.querySelectorAll("#bit-table tbody tr").length)`); rows != "8" {
		t.Errorf("bit table has %s rows, want 8", rows)
	}
	if plain := b.eval(`document.getElementById("plain-out").textContent`); plain != "142 103 205 1 22 15 233" {
		t.Errorf("integer list %q", plain)
	}

	b.do(chromedp.Click(chromedp.ID("clear")))
	if ip, seq := b.value("ip"), b.value("sequence"); ip != "" || seq != "" {
		t.Fatalf("after clear: ip %q, sequence %q", ip, seq)
	}
	b.do(chromedp.SendKeys(chromedp.ID("sequence"), strings.ReplaceAll(SampleSequence, " ", ", ")),
		chromedp.Click(chromedp.ID("decode")))
	b.waitFor(`document.getElementById("ip").value !== ""`)
	got := map[string]string{"ip": b.value("ip"), "service": b.value("service"), "time": b.value("time"), "sequence": b.value("sequence")}
	want := map[string]string{"ip": "142.103.205.1", "service": "22", "time": "15", "sequence": SampleSequence}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("after decrypt, %s = %q, want %q", k, got[k], want[k])
		}
	}

	b.do(chromedp.SetValue(chromedp.ID("ip"), "300.1.2.3"), chromedp.Click(chromedp.ID("encode")))
	b.settle()
	b.waitFor(`document.getElementById("ip-err").textContent !== ""`)
	b.do(chromedp.WaitVisible(chromedp.ID("ip-err")))
	if msg := b.eval(`document.getElementById("ip-err").textContent`); !strings.Contains(msg, `"300.1.2.3" is not an IP address`) {
		t.Errorf("IP error %q", msg)
	}
	if next := b.eval(`String(document.getElementById("ip-err").parentElement.contains(document.getElementById("ip")))`); next != "true" {
		t.Error("the IP error is not next to the IP field")
	}
	if inv := b.eval(`document.getElementById("ip").getAttribute("aria-invalid")`); inv != "true" {
		t.Errorf("IP field aria-invalid = %q", inv)
	}
	if b.eval(`window.stillHere || "reloaded"`) != "yes" {
		t.Error("the page reloaded: the script did not update it in place")
	}
}

// TestBrowserWithoutJavaScript: with scripts off, the same buttons post
// the form and the server renders the knock and its bit table.
func TestBrowserWithoutJavaScript(t *testing.T) {
	srv := httptest.NewServer(newTestLab(t))
	defer srv.Close()
	b := tab{t, browser(t)}
	if _, err := chromedp.Call(b.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	b.do(chromedp.Navigate(srv.URL))
	b.post(chromedp.Click(chromedp.ID("sample")))
	b.do(chromedp.WaitVisible(chromedp.ID("bit-table")))
	if seq := b.value("sequence"); seq != SampleSequence {
		t.Fatalf("knock %q, want %q", seq, SampleSequence)
	}
	b.post(chromedp.Click(chromedp.ID("clear")))
	b.do(chromedp.WaitNotPresent(chromedp.ID("bit-table")))
	if ip := b.value("ip"); ip != "" {
		t.Fatalf("after clear, ip = %q", ip)
	}
	b.post(chromedp.SendKeys(chromedp.ID("sequence"), SampleSequence), chromedp.Click(chromedp.ID("decode")))
	b.do(chromedp.WaitVisible(chromedp.ID("knock-out")))
	if ip := b.value("ip"); ip != "142.103.205.1" {
		t.Errorf("after decrypt without JavaScript, ip = %q", ip)
	}

	// The script builds the result as the server renders it: the same
	// sample, in a second tab with scripts on, reads the same.
	b.post(chromedp.Click(chromedp.ID("clear")))
	b.do(chromedp.WaitNotPresent(chromedp.ID("bit-table")))
	b.post(chromedp.Click(chromedp.ID("sample")))
	b.do(chromedp.WaitVisible(chromedp.ID("bit-table")))
	server := b.eval(resultText)
	if !strings.Contains(server, SampleSequence+" 8 ports of the span 745-1000") {
		t.Fatalf("the server's result reads %q", server)
	}
	js, cancel := chromedp.NewContext(b.ctx)
	defer cancel()
	b2 := tab{t, js}
	b2.do(chromedp.Navigate(srv.URL), chromedp.Click(chromedp.ID("sample")))
	b2.settle()
	b2.waitFor(`document.getElementById("bit-table") !== null`)
	if client := b2.eval(resultText); client != server {
		t.Errorf("the script's result differs from the server's\nserver: %s\nscript: %s", server, client)
	}

	// The same for the sealed knock, switched to with the selector's
	// button, which only shows without scripts.
	b.post(chromedp.SetValue(chromedp.ID("mode"), "sealed"), chromedp.Click(chromedp.ID("switch")))
	b.do(chromedp.WaitVisible(chromedp.ID("s-ip")))
	b.post(chromedp.Click(chromedp.ID("sample")))
	b.do(chromedp.WaitVisible(chromedp.ID("bit-table")))
	server = b.eval(resultText)
	if !strings.Contains(server, "20 ports of the span 40000-40255 (256 ports, 8 bits each) · sealed v1, IPv4 address, 20 bytes") {
		t.Fatalf("the server's sealed result reads %q", server)
	}
	b2.chooseMode("sealed")
	b2.do(chromedp.Click(chromedp.ID("sample")))
	b2.settle()
	b2.waitFor(`document.querySelector("#result .summary") !== null && document.querySelector("#result .summary").textContent.includes("sealed v1")`)
	if client := b2.eval(resultText); client != server {
		t.Errorf("the script's sealed result differs from the server's\nserver: %s\nscript: %s", server, client)
	}
	// And as one datagram.
	b.post(chromedp.Click(chromedp.ID("spa")), chromedp.Click(chromedp.ID("encode")))
	b.do(chromedp.WaitNotPresent(chromedp.ID("bit-table")))
	server = b.eval(resultText)
	b2.do(chromedp.Click(chromedp.ID("spa")), chromedp.Click(chromedp.ID("encode")))
	b2.settle()
	b2.waitFor(`document.getElementById("bit-table") === null && document.getElementById("knock-out") !== null`)
	if client := b2.eval(resultText); client != server || !strings.Contains(server, "one UDP datagram of 24 bytes") {
		t.Errorf("the script's datagram differs from the server's\nserver: %s\nscript: %s", server, client)
	}
}

// TestBrowserSealed: switch to the sealed knock, generate a key, encrypt
// and read the knock; clear, paste it back, decrypt and see the fields
// restored; change one port and see the tag fail, next to the key.
func TestBrowserSealed(t *testing.T) {
	b := openLab(t)
	b.chooseMode("sealed")
	b.do(chromedp.WaitVisible(chromedp.ID("s-ip")), chromedp.WaitNotVisible(chromedp.ID("ip")))
	if b.eval(`String(document.getElementById("switch").hidden)`) != "true" {
		t.Error("the switch button shows, although the selector switches at once")
	}

	b.do(chromedp.Click(chromedp.ID("keygen")))
	b.settle()
	b.waitFor(`document.getElementById("key").value.startsWith("knock1-")`)
	key := b.value("key")
	b.do(chromedp.SendKeys(chromedp.ID("s-ip"), "192.0.2.7"), chromedp.SetValue(chromedp.ID("s-service"), "22"),
		chromedp.SendKeys(chromedp.ID("duration"), "5"), chromedp.SendKeys(chromedp.ID("s-span"), "40000-40255"),
		chromedp.Click(chromedp.ID("encode")))
	b.waitFor(`document.getElementById("knock-out") !== null`)
	seq := b.value("sequence")
	if n := len(strings.Fields(seq)); n != 20 {
		t.Fatalf("knock %q: %d ports, want 20", seq, n)
	}
	if rows := b.eval(`String(document.querySelectorAll("#bit-table tbody tr").length)`); rows != "20" {
		t.Errorf("bit table has %s rows, want 20", rows)
	}
	if tag := b.eval(`document.querySelector("#result .part.k-tag .role").textContent`); tag != "in clear" {
		t.Errorf("tag part: %q", tag)
	}

	b.do(chromedp.Click(chromedp.ID("clear")))
	if ip, s, k := b.value("s-ip"), b.value("sequence"), b.value("key"); ip != "" || s != "" || k != key {
		t.Fatalf("after clear: ip %q, sequence %q, key kept %v", ip, s, k == key)
	}
	b.do(chromedp.SendKeys(chromedp.ID("sequence"), seq), chromedp.Click(chromedp.ID("decode")))
	b.settle()
	b.waitFor(`document.getElementById("s-ip").value !== ""`)
	got := map[string]string{"s-ip": b.value("s-ip"), "s-service": b.value("s-service"), "duration": b.value("duration"),
		"unit": b.value("unit"), "proto": b.value("proto"), "timestamp": b.value("timestamp")}
	want := map[string]string{"s-ip": "192.0.2.7", "s-service": "22", "duration": "5", "unit": "minutes", "proto": "tcp",
		"timestamp": testClock.Format(time.RFC3339)}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("after decrypt, %s = %q, want %q", k, got[k], want[k])
		}
	}
	if b.value("nonce") == "" {
		t.Error("after decrypt, no nonce")
	}

	ports := strings.Fields(seq)
	ports[len(ports)-1] = map[bool]string{true: "40000", false: "40255"}[ports[len(ports)-1] == "40255"]
	b.do(chromedp.SetValue(chromedp.ID("sequence"), strings.Join(ports, " ")), chromedp.Click(chromedp.ID("decode")))
	b.settle()
	b.waitFor(`document.getElementById("key-err").textContent !== ""`)
	b.do(chromedp.WaitVisible(chromedp.ID("key-err")))
	if msg := b.eval(`document.getElementById("key-err").textContent`); !strings.HasPrefix(msg, "authentication failed: wrong key, or the knock was altered") {
		t.Errorf("key error %q", msg)
	}
	if inv := b.eval(`document.getElementById("key").getAttribute("aria-invalid")`); inv != "true" {
		t.Errorf("key field aria-invalid = %q", inv)
	}
	if b.eval(`window.stillHere || "reloaded"`) != "yes" {
		t.Error("the page reloaded: the script did not update it in place")
	}
	if os.Getenv("KNOCKLAB_SCREENSHOT") == "1" {
		screenshot(t, b)
	}
}

// TestBrowserSealedV2: with scripts on, a user and server seal version 2:
// 21 ports, the hint laid out; cleared and pasted back, it opens with
// the user and server kept; with another server, the tag fails next to
// the user.
func TestBrowserSealedV2(t *testing.T) {
	b := openLab(t)
	b.chooseMode("sealed")
	b.do(chromedp.WaitVisible(chromedp.ID("user")))
	b.do(chromedp.Click(chromedp.ID("sample")))
	b.settle()
	b.waitFor(`document.getElementById("knock-out") !== null`)
	b.do(chromedp.SendKeys(chromedp.ID("user"), "alice"), chromedp.SendKeys(chromedp.ID("server"), "gate-a.example.net"),
		chromedp.Click(chromedp.ID("encode")))
	b.settle()
	b.waitFor(`document.querySelector("#result .summary").textContent.includes("sealed v2")`)
	seq := b.value("sequence")
	if n := len(strings.Fields(seq)); n != 21 {
		t.Fatalf("knock %q: %d ports, want 21", seq, n)
	}
	if hint := b.eval(`Array.from(document.querySelectorAll("#result figcaption b")).map(e => e.textContent).filter(n => n === "hint").length + ""`); hint != "2" {
		t.Errorf("the hint shows %s times, want twice (in clear, and as sent)", hint)
	}
	if text := b.eval(resultText); !strings.Contains(text, `sealed v2 for user "alice" and the server "gate-a.example.net", IPv4 address, 21 bytes`) {
		t.Errorf("result reads %q", text)
	}

	b.do(chromedp.Click(chromedp.ID("clear")))
	if s, u := b.value("sequence"), b.value("user"); s != "" || u != "alice" {
		t.Fatalf("after clear: sequence %q, user %q (want it kept)", s, u)
	}
	b.do(chromedp.SendKeys(chromedp.ID("sequence"), seq), chromedp.Click(chromedp.ID("decode")))
	b.settle()
	b.waitFor(`document.getElementById("s-ip").value !== ""`)
	if ip, u, srv := b.value("s-ip"), b.value("user"), b.value("server"); ip != "203.0.113.7" || u != "alice" || srv != "gate-a.example.net" {
		t.Errorf("after decrypt: ip %q, user %q, server %q", ip, u, srv)
	}
	if text := b.eval(resultText); !strings.Contains(text, `sealed v2 for user "alice"`) {
		t.Errorf("decrypted result reads %q", text)
	}

	b.do(chromedp.SetValue(chromedp.ID("server"), "gate-b.example.net"), chromedp.Click(chromedp.ID("decode")))
	b.settle()
	b.waitFor(`document.getElementById("user-err").textContent !== ""`)
	if msg := b.eval(`document.getElementById("user-err").textContent`); !strings.HasPrefix(msg, "authentication failed: no key of this user and server opens it") {
		t.Errorf("user error %q", msg)
	}
	if b.eval(`window.stillHere || "reloaded"`) != "yes" {
		t.Error("the page reloaded: the script did not update it in place")
	}
}

// chooseMode picks a mode in the selector, as a person does.
func (b tab) chooseMode(mode string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.ID("mode"), mode))
	b.eval(`document.getElementById("mode").dispatchEvent(new Event("change", {bubbles: true})), ""`)
}

// resultText is the result as a person reads it, whitespace collapsed.
const resultText = `document.getElementById("result").innerText.replace(/\s+/g, " ").trim()`

// screenshot writes the page with a knock on it to testdata/screenshot.png,
// which the docs link to: the sealed sample on a 15-bit span, so that every
// part of a sealed message shows and the bits are cut across bytes.
func screenshot(t *testing.T, b tab) {
	b.do(chromedp.Click(chromedp.ID("sample")))
	b.settle()
	b.waitFor(`document.getElementById("knock-out") !== null`)
	b.do(chromedp.SetValue(chromedp.ID("s-span"), "1024-5000,6000-25000,26000-35789"), chromedp.Click(chromedp.ID("encode")))
	b.settle()
	b.waitFor(`document.querySelector("#result .summary").textContent.includes("15 bits")`)
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("testdata/screenshot.png", png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote testdata/screenshot.png, %d bytes", len(png))
}
