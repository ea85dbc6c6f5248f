package command

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portknock/knock"
	"github.com/portknock/knock/firewall"
)

// TestStopAfterDuration: touch opens, rm closes, when the fake clock
// reaches the grant's end and not before.
func TestStopAfterDuration(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "open-192.0.2.1-tcp-22")
	b, clock := newBackend(t, Config{
		Start: "touch " + dir + "/open-%IP%-%PROTO%-%PORT%",
		Stop:  "rm " + dir + "/open-%IP%-%PROTO%-%PORT%",
	})
	if err := b.Open(context.Background(), grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !exists(flag) {
		t.Fatal("start command did not run")
	}
	clock.Advance(15*time.Minute - time.Nanosecond)
	if !exists(flag) {
		t.Fatal("stop command ran before the grant's end")
	}
	clock.Advance(time.Nanosecond)
	if exists(flag) {
		t.Fatal("stop command did not run at the grant's end")
	}
	if p := b.Pending(); len(p) != 0 {
		t.Fatalf("Pending = %+v after the stop ran", p)
	}
}

// TestReopenReschedules: opening the same grant again moves its stop.
// TestReopenReschedules: a knock repeated while its grant is open extends
// it, without running the start command twice (an iptables ACCEPT rule
// added twice and deleted once stays forever).
func TestReopenReschedules(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: helperCmd(t, "append") + " " + log + " start %IP% %TIME%",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %TIME%",
	})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if err := b.Open(ctx, grant(client, 15*time.Minute)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	if got := readLines(t, log); len(got) != 1 {
		t.Fatalf("log = %q: a repeated knock ran the start command again, or the first stop was not cancelled", got)
	}
	clock.Advance(5 * time.Minute)
	// One open, one close: the repeated knock extended the grant.
	want := []string{"start 192.0.2.1 15", "stop 192.0.2.1 15"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if clock.Waiting() != 0 {
		t.Fatalf("%d timers left", clock.Waiting())
	}
}

// TestCloseAtOnce: Close runs the stop command now and cancels the timer;
// closing again still runs it (the grant may predate a restart).
func TestCloseAtOnce(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: helperCmd(t, "append") + " " + log + " start %IP%",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %SECONDS%",
	})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, 90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx, grant(client, 0)); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx, grant(client, 0)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Hour)
	want := []string{"start 192.0.2.1", "stop 192.0.2.1 90", "stop 192.0.2.1 0"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
}

// TestCloseFailureKeepsStop: a stop command that fails on Close is still
// scheduled for the grant's end.
func TestCloseFailureKeepsStop(t *testing.T) {
	b, _ := newBackend(t, Config{Start: "true", Stop: "false"})
	ctx := context.Background()
	if err := b.Open(ctx, grant(client, time.Minute)); err != nil {
		t.Fatal(err)
	}
	var re *RunError
	if err := b.Close(ctx, grant(client, 0)); !errors.As(err, &re) || re.Template != "stop" {
		t.Fatalf("Close = %v, want a RunError of the stop command", err)
	}
	if p := b.Pending(); len(p) != 1 {
		t.Fatalf("Pending = %+v, want the stop still scheduled", p)
	}
}

// TestShutdownRunsPending: Shutdown runs every pending stop and refuses
// new grants.
func TestShutdownRunsPending(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log")
	b, clock := newBackend(t, Config{
		Start: "true",
		Stop:  helperCmd(t, "append") + " " + log + " stop %IP% %PROTO%/%PORT%",
	})
	ctx := context.Background()
	other := netip.MustParseAddr("2001:db8::7")
	for _, g := range []firewall.Grant{grant(other, time.Hour), grant(client, time.Minute)} {
		if err := b.Open(ctx, g); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"stop 192.0.2.1 tcp/22", "stop 2001:db8::7 tcp/22"}
	if got := readLines(t, log); !slices.Equal(got, want) {
		t.Fatalf("log = %q, want %q", got, want)
	}
	if err := b.Open(ctx, grant(client, time.Minute)); !errors.Is(err, ErrShutdown) {
		t.Fatalf("Open after Shutdown = %v, want ErrShutdown", err)
	}
	clock.Advance(2 * time.Hour)
	if got := readLines(t, log); len(got) != 2 {
		t.Fatalf("stops ran again after Shutdown: %q", got)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Start: "true"}, "stop command template is empty"},
		{Config{Start: " ", Stop: "true"}, "start command template is empty"},
		{Config{Start: "no-such-program-here %IP%", Stop: "true"}, `start command template "no-such-program-here %IP%": program "no-such-program-here"`},
		{Config{Start: "true", Stop: "true %FLAG1%", Fields: []string{"flag0"}}, `stop command template "true %FLAG1%": unknown placeholder %FLAG1% (known: %FLAG0% %IP% %PORT% %PROTO% %SECONDS% %TIME%)`},
		{Config{Start: "true 'x", Stop: "true"}, `start command template "true 'x": unterminated ' quote`},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct {
		d             time.Duration
		time, seconds string
	}{
		{15 * time.Minute, "15", "900"},
		{90 * time.Second, "2", "90"},
		{1500 * time.Millisecond, "1", "2"},
		{0, "0", "0"},
	} {
		g := grant(netip.MustParseAddr("::ffff:192.0.2.9"), tc.d)
		g.Fields = map[string]string{"port": "99", "flag0": "7"}
		v := values(g)
		if v["TIME"] != tc.time || v["SECONDS"] != tc.seconds || v["IP"] != "192.0.2.9" || v["PORT"] != "22" || v["FLAG0"] != "7" {
			t.Errorf("values for %s = %v", tc.d, v)
		}
	}
}

func TestBadGrants(t *testing.T) {
	b, _ := newBackend(t, Config{Start: "true", Stop: "true"})
	for _, g := range []firewall.Grant{
		{Proto: knock.TCP, Port: 22, Duration: time.Minute},
		{Addr: client, Proto: "icmp", Port: 22, Duration: time.Minute},
		{Addr: client, Proto: knock.UDP, Duration: time.Minute},
		{Addr: client, Proto: knock.UDP, Port: 53},
	} {
		if err := b.Open(context.Background(), g); !errors.Is(err, ErrBadGrant) {
			t.Errorf("Open(%+v) = %v, want ErrBadGrant", g, err)
		}
	}
}

// TestSystemClock: with the real clock the stop runs by itself.
func TestSystemClock(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "open")
	b, err := New(Config{Start: "touch " + flag, Stop: "rm " + flag})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Open(context.Background(), grant(client, 20*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for exists(flag) || len(b.Pending()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stop command never ran")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
