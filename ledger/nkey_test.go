package ledger_test

import (
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

func nkeyOption(seed string) (nats.Option, error) {
	kp, err := nkeysFromSeed(seed)
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	return nats.Nkey(pub, kp.Sign), nil
}

func nkeysFromSeed(seed string) (interface {
	PublicKey() (string, error)
	Sign([]byte) ([]byte, error)
}, error) {
	return nkeys.FromSeed([]byte(seed))
}
