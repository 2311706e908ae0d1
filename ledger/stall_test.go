package ledger_test

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"compact/ledger"
)

// A response that writes nothing for longer than the stall timeout, its client reading all
// it is sent, is not given up: the bound is on each write, not on the silences between them
// (a watch between its changes, a build as known or a rebuild before its answer). Over
// HTTP/2 (serve with --tls-cert) a write deadline is a timer on the stream that resets it
// when it fires, write or no write: the deadline GiveUpStalled armed at the request's start,
// or left after its last write, used to cut every such response after the stall timeout.
func TestASilentResponseIsNotGivenUp(t *testing.T) {
	const stall = 200 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(ledger.GiveUpStalled(stall, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.WriteString(w, "first\n")
				w.(http.Flusher).Flush()
				// silent for several stall timeouts, as a watch is between changes
				select {
				case <-time.After(5 * stall):
				case <-r.Context().Done():
					return
				}
				io.WriteString(w, "second\n")
			})))
			srv.EnableHTTP2 = h2
			srv.StartTLS()
			defer srv.Close()
			req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL, nil)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if want := map[bool]int{false: 1, true: 2}[h2]; resp.ProtoMajor != want {
				t.Fatalf("answered over %s, want HTTP/%d", resp.Proto, want)
			}
			br := bufio.NewReader(resp.Body)
			for _, want := range []string{"first\n", "second\n"} {
				if line, err := br.ReadString('\n'); line != want {
					t.Fatalf("read %q (%v), want %q: the response was given up while its client read it", line, err, want)
				}
			}
		})
	}
}
