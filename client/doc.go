// Package client is what knockclient does: it turns the client's settings
// (package settings) into a knock, the prototype's legacy knock (package
// knock) or the authenticated one (package sealed), and delivers it as the
// Perl prototype's knockclient did, so that a user's knockclient.conf gives
// the same knocks here.
//
// A knock leaves through one of two edges, both a Sender:
//
//   - the network: one TCP SYN per port, never a handshake (a non-blocking
//     connect, aborted at once), or one UDP datagram per port, in order,
//     with the configured pause between them; or a single UDP datagram for
//     single-packet authorization (-spa);
//   - a faked firewall log (logtofile = yes): one line per port, rendered
//     with the daemon's own template code (package source/logfile), so the
//     daemon's patterns read what the client writes.
//
// Everything that varies from run to run is passed in through Env: the
// clock (THIS* fields, sealed timestamps, pauses, backoff), randomness
// (RAND, IVs, nonces, keys) and the network (resolving remote, finding the
// local address, sending, probing a port). Package clienttest has fakes of
// each, so the whole client is unit-tested without a network; the
// end-to-end tests send real packets between two network namespaces.
//
// The command (cmd/knockclient) only parses arguments and maps errors to
// exit codes: ErrSend, ErrClosed and ErrUndecodable mark the failures that
// have their own.
package client
