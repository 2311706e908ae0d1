package audit

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A server that stops sending, before its answer or in the middle of it, ends the request
// with ErrStalled after the client's idle timeout, instead of holding the auditor forever;
// a server that keeps sending, however slowly, is read to the end.
func TestClientGivesUpOnAStalledServer(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/key", func(w http.ResponseWriter, r *http.Request) {
		select { // never answers
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("GET /v1/audit/messages", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"seq":1,"subject":"compact.events.UNODC.x","data":"e30="}`)
		w.(http.Flusher).Flush()
		select { // then stops
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("GET /v1/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		for range 5 { // slowly, but never idle for long
			fmt.Fprintln(w, `{"stream_seq":1,"note":"x"}`)
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
		fmt.Fprintln(w, `{"end":true}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := &Client{BaseURL: srv.URL, IdleTimeout: 200 * time.Millisecond}

	within := func(what string, f func() error) error {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: still waiting for the stalled server", what)
			return nil
		}
	}
	ctx := context.Background()
	if err := within("Key", func() error { _, err := c.Key(ctx); return err }); !errors.Is(err, ErrStalled) {
		t.Errorf("Key from a server that never answers: %v, want ErrStalled", err)
	}
	got := 0
	err := within("Messages", func() error {
		return c.Messages(ctx, 1, func(Message) error { got++; return nil })
	})
	if !errors.Is(err, ErrStalled) || got != 1 {
		t.Errorf("Messages from a server that stops after one: %v after %d messages, want ErrStalled after 1", err, got)
	}
	cps := 0
	slow := &Client{BaseURL: srv.URL, IdleTimeout: 5 * time.Second} // far above the 50 ms between lines, on a loaded machine too
	err = within("Checkpoints", func() error {
		return slow.Checkpoints(ctx, func(CheckpointRecord) error { cps++; return nil })
	})
	if err != nil || cps != 5 {
		t.Errorf("Checkpoints from a slow server: %d, %v; want all 5", cps, err)
	}

	stops := http.NewServeMux()
	stops.HandleFunc("GET /v1/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"stream_seq":1,"note":"x"}`)
		w.(http.Flusher).Flush()
		select { // then stops, before the end line
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv2 := httptest.NewServer(stops)
	t.Cleanup(srv2.Close)
	cps = 0
	err = within("Checkpoints", func() error {
		c := &Client{BaseURL: srv2.URL, IdleTimeout: 200 * time.Millisecond}
		return c.Checkpoints(ctx, func(CheckpointRecord) error { cps++; return nil })
	})
	if !errors.Is(err, ErrStalled) || cps != 1 {
		t.Errorf("Checkpoints from a server that stops after one: %v after %d records, want ErrStalled after 1", err, cps)
	}
}

// A request its caller ended (Ctrl-C) does not ask whether serve is running, as one the
// server never answered does.
func TestAnEndedRequestDoesNotBlameTheServer(t *testing.T) {
	c := &Client{BaseURL: "http://127.0.0.1:1"}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Key(ctx); err == nil || strings.Contains(err.Error(), "is compact serve running") {
		t.Errorf("a request whose context ended: %v, want its error without the hint about serve", err)
	}
	if _, err := c.Key(t.Context()); err == nil || !strings.Contains(err.Error(), "is compact serve running") {
		t.Errorf("a request no server answered: %v, want the hint about serve", err)
	}
}
