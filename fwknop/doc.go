// Package fwknop lets knockdaemon serve the real fwknop client: it reads
// an unmodified fwknopd access.conf (ReadAccess) and decides the Single
// Packet Authorization packets that fwknop 2.6 sends with Rijndael and an
// HMAC (Matcher.Match), as docs/fwknop.md specifies.
//
// The HMAC is checked, in constant time, before anything is decrypted;
// GnuPG packets, command messages and NAT requests are recognised and
// refused. An accepted packet yields an Access: the address, the ports,
// the duration and a replay id for the caller's replay cache. A refused
// one yields an *Error whose Reason is one of Reasons.
package fwknop
