package ledger

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StoredMsg is one message of a stream as its leader stores it.
type StoredMsg struct {
	Subject string
	Seq     uint64
	Data    []byte
	Time    time.Time
}

// GetStored reads the message at seq of stream from the stream's leader
// ($JS.API.STREAM.MSG.GET). Not a direct get: on a stream with replicas any of them answers one,
// and a replica that has not applied a message stored moments ago would say it has none.
// Its error says the message is missing with jetstream.ErrMsgNotFound.
func GetStored(ctx context.Context, nc *nats.Conn, stream string, seq uint64) (*StoredMsg, error) {
	req, _ := json.Marshal(struct {
		Seq uint64 `json:"seq"`
	}{seq})
	m, err := nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET."+stream, req)
	if err != nil {
		return nil, fmt.Errorf("read seq %d of %s: %w", seq, stream, err)
	}
	var resp struct {
		Message *struct {
			Subject string    `json:"subject"`
			Seq     uint64    `json:"seq"`
			Data    []byte    `json:"data"` // base64 in the API's JSON
			Time    time.Time `json:"time"`
		} `json:"message"`
		Error *jetstream.APIError `json:"error"`
	}
	switch err := json.Unmarshal(m.Data, &resp); {
	case err != nil:
		return nil, fmt.Errorf("read seq %d of %s: %w", seq, stream, err)
	case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
		return nil, fmt.Errorf("read seq %d of %s: %w", seq, stream, jetstream.ErrMsgNotFound)
	case resp.Error != nil:
		return nil, fmt.Errorf("read seq %d of %s: %w", seq, stream, resp.Error)
	case resp.Message == nil || resp.Message.Seq != seq:
		return nil, fmt.Errorf("read seq %d of %s: the answer holds no message at that sequence", seq, stream)
	}
	msg := resp.Message
	return &StoredMsg{Subject: msg.Subject, Seq: msg.Seq, Data: msg.Data, Time: msg.Time}, nil
}
