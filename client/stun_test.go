package client_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/stun/v3"
	"github.com/portknock/knock/client"
)

// stunServer answers Binding requests on conn until it is closed, as RFC
// 5389 servers do: a success response whose XOR-MAPPED-ADDRESS is the
// request's source. answer may change the response (nil: none sent).
func stunServer(t *testing.T, conn *net.UDPConn, answer func(req *stun.Message, from netip.AddrPort) *stun.Message) {
	t.Helper()
	if answer == nil {
		answer = bindingSuccess
	}
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			req := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
			if req.Decode() != nil || req.Type != stun.BindingRequest {
				continue
			}
			if resp := answer(req, from); resp != nil {
				conn.WriteToUDPAddrPort(resp.Raw, from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
}

func bindingSuccess(req *stun.Message, from netip.AddrPort) *stun.Message {
	return stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
		&stun.XORMappedAddress{IP: from.Addr().AsSlice(), Port: int(from.Port())}, stun.Fingerprint)
}

func loopbackServer(t *testing.T, answer func(*stun.Message, netip.AddrPort) *stun.Message) string {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	stunServer(t, conn, answer)
	return conn.LocalAddr().String()
}

var quick = []time.Duration{100 * time.Millisecond, 200 * time.Millisecond}

// TestSTUNMapped: the address comes from XOR-MAPPED-ADDRESS, or from
// MAPPED-ADDRESS of an RFC 3489 server; a lost first answer is asked
// again; a response to another transaction is ignored; an error
// response, silence, and a refused port are errors naming the server.
func TestSTUNMapped(t *testing.T) {
	ctx := context.Background()
	want := netip.MustParseAddr("127.0.0.1")
	plain := func(req *stun.Message, from netip.AddrPort) *stun.Message {
		return stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingSuccess,
			&stun.MappedAddress{IP: net.IPv4(203, 0, 113, 9), Port: 1})
	}
	var requests atomic.Int32
	loseFirst := func(req *stun.Message, from netip.AddrPort) *stun.Message {
		if requests.Add(1) == 1 {
			// a stale answer first, to another transaction
			return stun.MustBuild(stun.TransactionID, stun.BindingSuccess, &stun.XORMappedAddress{IP: net.IPv4(192, 0, 2, 66)})
		}
		return bindingSuccess(req, from)
	}
	refuse := func(req *stun.Message, _ netip.AddrPort) *stun.Message {
		return stun.MustBuild(stun.NewTransactionIDSetter(req.TransactionID), stun.BindingError, stun.CodeBadRequest)
	}
	for _, tc := range []struct {
		name, server string
		want         netip.Addr
		err          string
	}{
		{"xor", loopbackServer(t, nil), want, ""},
		{"mapped", loopbackServer(t, plain), netip.MustParseAddr("203.0.113.9"), ""},
		{"retry", loopbackServer(t, loseFirst), want, ""},
		{"error", loopbackServer(t, refuse), netip.Addr{}, `binding refused: 400 "Bad Request"`},
		{"silent", loopbackServer(t, func(*stun.Message, netip.AddrPort) *stun.Message { return nil }), netip.Addr{}, "no answer to 2 binding requests in 300ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := client.STUN{Timeouts: quick}.Mapped(ctx, tc.server)
			if tc.err == "" && (err != nil || got != tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
			if tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.server)) {
				t.Fatalf("error %v, want one naming %s and saying %q", err, tc.server, tc.err)
			}
		})
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("retry: the server saw %d requests, want 2", n)
	}
}

// TestSTUNCanceled: a canceled context ends the wait at once.
func TestSTUNCanceled(t *testing.T) {
	server := loopbackServer(t, func(*stun.Message, netip.AddrPort) *stun.Message { return nil })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (client.STUN{}).Mapped(ctx, server); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
}
