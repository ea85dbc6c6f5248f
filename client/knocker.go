package client

import (
	"context"
	"fmt"
	"time"
)

// Knocker sends the packets of one knock in order, pausing Gap between
// them.
type Knocker struct {
	Sender Sender
	Clock  Clock
	Gap    time.Duration
	// Logf, when set, is told of each packet before it leaves.
	Logf func(format string, args ...any)
}

// Knock sends pkts. An error wraps ErrSend and says which knock failed;
// the knocks before it were sent.
func (k *Knocker) Knock(ctx context.Context, pkts []Packet) error {
	for i, p := range pkts {
		if i > 0 && k.Gap > 0 {
			if err := k.Clock.Sleep(ctx, k.Gap); err != nil {
				return err
			}
		}
		if k.Logf != nil {
			k.Logf("send %d/%d: %s port %d%s", i+1, len(pkts), p.Proto, p.Port, payloadNote(p.Payload))
		}
		if err := k.Sender.Send(p); err != nil {
			return fmt.Errorf("%w: knock %d of %d (%s port %d): %w", ErrSend, i+1, len(pkts), p.Proto, p.Port, err)
		}
	}
	return nil
}

func payloadNote(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return fmt.Sprintf(", %d bytes %x", len(b), b)
}
