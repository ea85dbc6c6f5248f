package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/pion/stun/v3"
)

// Mapper learns the address this host's packets arrive from, as a server
// on the far side of any NAT sees it: the address a knock must ask the
// daemon to open for.
type Mapper interface {
	Mapped(ctx context.Context, server string) (netip.Addr, error)
}

// STUNPort is the STUN port a server name without one gets (RFC 5389).
const STUNPort = "3478"

// STUNTimeouts are the waits after each Binding request: three requests,
// 3.5 s in all, before the server is given up as unreachable.
var STUNTimeouts = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second}

// STUN is the real Mapper: a Binding request (RFC 5389) over UDP, sent
// again after each of Timeouts without an answer. Only a success response
// carrying the request's transaction ID counts; its XOR-MAPPED-ADDRESS
// (or MAPPED-ADDRESS, from an RFC 3489 server) is the answer.
type STUN struct {
	Timeouts []time.Duration // STUNTimeouts when nil
	Rand     io.Reader       // transaction IDs; crypto/rand when nil
}

// Mapped implements Mapper. server is host:port, or a host for port 3478.
func (s STUN) Mapped(ctx context.Context, server string) (netip.Addr, error) {
	addr := server
	if _, _, err := net.SplitHostPort(server); err != nil {
		addr = net.JoinHostPort(strings.Trim(server, "[]"), STUNPort)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("stun server %q: %w", server, err)
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	timeouts := s.Timeouts
	if timeouts == nil {
		timeouts = STUNTimeouts
	}
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	var waited time.Duration
	for _, wait := range timeouts {
		var id [stun.TransactionIDSize]byte
		if _, err := io.ReadFull(r, id[:]); err != nil {
			return netip.Addr{}, err
		}
		req, err := stun.Build(stun.NewTransactionIDSetter(id), stun.BindingRequest, stun.Fingerprint)
		if err != nil {
			return netip.Addr{}, err
		}
		if _, err := conn.Write(req.Raw); err != nil {
			return netip.Addr{}, fmt.Errorf("stun server %q: %w", server, err)
		}
		a, err := answer(conn, id, time.Now().Add(wait))
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return netip.Addr{}, ctx.Err()
		}
		if !errors.Is(err, errNoAnswer) {
			return netip.Addr{}, fmt.Errorf("stun server %q: %w", server, err)
		}
		waited += wait
	}
	return netip.Addr{}, fmt.Errorf("stun server %q: no answer to %d binding requests in %v", server, len(timeouts), waited)
}

var errNoAnswer = errors.New("no answer")

// answer reads until deadline for the response to transaction id,
// skipping anything else (a late answer to an earlier request, stray
// datagrams).
func answer(conn net.Conn, id [stun.TransactionIDSize]byte, deadline time.Time) (netip.Addr, error) {
	conn.SetReadDeadline(deadline)
	buf := make([]byte, 1500)
	for {
		n, err := conn.Read(buf)
		var ne net.Error
		switch {
		case errors.As(err, &ne) && ne.Timeout():
			return netip.Addr{}, errNoAnswer
		case errors.Is(err, net.ErrClosed):
			return netip.Addr{}, errNoAnswer
		case err != nil:
			// ICMP port unreachable comes back as ECONNREFUSED on a
			// connected socket: nobody serves STUN there.
			return netip.Addr{}, err
		}
		m := &stun.Message{Raw: append([]byte(nil), buf[:n]...)}
		if m.Decode() != nil || m.TransactionID != id {
			continue
		}
		return mappedFrom(m)
	}
}

// mappedFrom reads the address out of a Binding response.
func mappedFrom(m *stun.Message) (netip.Addr, error) {
	if m.Type != stun.BindingSuccess {
		var code stun.ErrorCodeAttribute
		if code.GetFrom(m) == nil {
			return netip.Addr{}, fmt.Errorf("binding refused: %d %q", code.Code, code.Reason)
		}
		return netip.Addr{}, fmt.Errorf("answered %v, not a binding success", m.Type)
	}
	var ip net.IP
	var xor stun.XORMappedAddress
	if err := xor.GetFrom(m); err == nil {
		ip = xor.IP
	} else {
		var plain stun.MappedAddress
		if err := plain.GetFrom(m); err != nil {
			return netip.Addr{}, errors.New("binding response without a mapped address")
		}
		ip = plain.IP
	}
	a, ok := netip.AddrFromSlice(ip)
	if !ok || a.Unmap().IsUnspecified() {
		return netip.Addr{}, fmt.Errorf("binding response maps to %q, no usable address", ip.String())
	}
	return a.Unmap(), nil
}
