package settings

import (
	"strings"

	"github.com/portknock/knock/cbc"
	"github.com/portknock/knock/format"
	"github.com/portknock/knock/legacy"
	"github.com/portknock/knock/portspan"
)

// Modes of knock.
const (
	ModeLegacy = "legacy"
	ModeSealed = "sealed"
)

// Mode returns the knock mode, checked.
func (s *Set) Mode() (string, error) {
	switch m := strings.ToLower(s.String("mode")); m {
	case ModeLegacy, ModeSealed:
		return m, nil
	}
	return "", s.Errorf("mode", "expected legacy or sealed")
}

// Span returns the port span, checked.
func (s *Set) Span() (*portspan.Span, error) {
	sp, err := portspan.Parse(s.String("portspan"))
	if err != nil {
		return nil, s.Errorf("portspan", "%v", err)
	}
	return sp, nil
}

// LegacyConfig returns the codec configuration of the legacy knock, with
// every error placed at the setting at fault.
func (s *Set) LegacyConfig() (legacy.Config, error) {
	loc, err := s.Location()
	if err != nil {
		return legacy.Config{}, err
	}
	cfg := legacy.Config{Format: s.String("knock"), Span: s.String("portspan"), IV: s.Bool("iv"), Location: loc}
	if _, err := format.Parse(cfg.Format); err != nil {
		return cfg, s.Errorf("knock", "%v", err)
	}
	if _, err := s.Span(); err != nil {
		return cfg, err
	}
	if !s.Bool("encrypt") {
		if cfg.IV {
			return cfg, s.Errorf("iv", "an IV needs encrypt = yes")
		}
		return cfg, nil
	}
	name, err := cbc.Canonical(s.String("cipher"))
	if err != nil {
		return cfg, s.Errorf("cipher", "%v", err)
	}
	cfg.Cipher = name
	cfg.Key = s.Get("key").Text
	if cfg.Key == "" && !s.IsSet("mode") && s.IsSet("keyfile") {
		// A sealed configuration that forgot its mode: say what is
		// missing, not what the default mode would need.
		return cfg, s.Missing("mode", "keyfile is set, but it serves mode = sealed; without mode the knock is legacy, the default, which needs key: set mode = sealed")
	}
	if cfg.Key == "" && !s.IsSet("mode") {
		return cfg, s.Missing("key", "encrypt = yes needs a key (set key in the file, or -key); mode is not set, so the knock is legacy, the default: for the authenticated knock set mode = sealed (with keyfile or key)")
	}
	if cfg.Key == "" {
		return cfg, s.Missing("key", "encrypt = yes needs a key (set key in the file, or -key)")
	}
	return cfg, nil
}

// LegacyCodec builds the legacy codec.
func (s *Set) LegacyCodec() (*legacy.Codec, error) {
	cfg, err := s.LegacyConfig()
	if err != nil {
		return nil, err
	}
	return legacy.New(cfg)
}
