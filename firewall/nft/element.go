package nft

import (
	"net/netip"

	"github.com/google/nftables"
	"github.com/portknock/knock"
	"golang.org/x/sys/unix"
)

// The set types, as nft names them. Concatenated keys put each field in
// its own 32-bit register, so every field is padded to 4 bytes.
var (
	typeProtected = nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
	typeAllowed4  = nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetProto, nftables.TypeInetService)
	typeAllowed6  = nftables.MustConcatSetType(nftables.TypeIP6Addr, nftables.TypeInetProto, nftables.TypeInetService)
)

func protoNumber(proto knock.Proto) byte {
	if proto == knock.UDP {
		return unix.IPPROTO_UDP
	}
	return unix.IPPROTO_TCP
}

func protoName(n byte) (knock.Proto, bool) {
	switch n {
	case unix.IPPROTO_TCP:
		return knock.TCP, true
	case unix.IPPROTO_UDP:
		return knock.UDP, true
	}
	return "", false
}

// serviceKey is the inet_proto . inet_service part of a key: the protocol
// byte, the port big-endian, each padded to 4 bytes.
func serviceKey(p knock.Port) []byte {
	return []byte{protoNumber(p.Proto), 0, 0, 0, byte(p.Port >> 8), byte(p.Port), 0, 0}
}

// allowedKey is the key of one grant: address . protocol . port.
func allowedKey(addr netip.Addr, p knock.Port) []byte {
	return append(addr.AsSlice(), serviceKey(p)...)
}

// decodeAllowed reads a key of allowed4 (12 bytes) or allowed6 (24 bytes).
func decodeAllowed(key []byte) (netip.Addr, knock.Port, bool) {
	var addr netip.Addr
	switch len(key) {
	case 12:
		addr = netip.AddrFrom4([4]byte(key[:4]))
	case 24:
		addr = netip.AddrFrom16([16]byte(key[:16]))
	default:
		return netip.Addr{}, knock.Port{}, false
	}
	rest := key[len(key)-8:]
	proto, ok := protoName(rest[0])
	if !ok {
		return netip.Addr{}, knock.Port{}, false
	}
	return addr, knock.Port{Proto: proto, Port: uint16(rest[4])<<8 | uint16(rest[5])}, true
}
