package main

import (
	"fmt"

	"golang.org/x/crypto/argon2"
)

// kdfVector pins the passphrase KDF: Argon2id with the parameters given,
// its 32 bytes the master key.
func kdfVector(name, comment, pass, salt string, time, memory uint32, threads uint8) *vector {
	key := argon2.IDKey([]byte(pass), []byte(salt), time, memory, threads, 32)
	v := &vector{name: name, comment: comment}
	return v.set("passphrase", pass).set("kdf-time", fmt.Sprint(time)).set("kdf-memory", fmt.Sprint(memory)).
		set("kdf-threads", fmt.Sprint(threads)).set("kdf-salt", salt).set("key", keyText(key))
}

// keyTextVector is a key's text form that ParseKey must refuse.
func keyTextVector(name, comment, text string) *vector {
	v := &vector{name: name, comment: comment}
	return v.set("key-text", text).set("expect", "refused")
}

func keyVectors() []*vector {
	good := keyText(keyA)
	typo := []byte(good)
	typo[20] ^= 0x20 // a letter's case changed
	return []*vector{
		kdfVector("kdf-default", "Argon2id with the default parameters and salt.", "correct horse battery staple", "knock sealed v1", 3, 64*1024, 4),
		kdfVector("kdf-small", "Argon2id with the smallest memory allowed and a deployment's salt.", "correct horse battery staple", "W5q9nZc3uTt1Xh0bYk2fQw", 1, 8*1024, 1),
		keyTextVector("bad-key-checksum", "A key with one letter's case changed: the checksum catches it.", string(typo)),
		keyTextVector("bad-key-prefix", "A key without its prefix.", good[len("knock1-"):]),
		keyTextVector("bad-key-short", "A key with its last character cut.", good[:len(good)-1]),
		keyTextVector("bad-key-base64", "A key with a character outside base64url.", good[:20]+"+"+good[21:]),
	}
}
