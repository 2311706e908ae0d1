package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// scrape reads GET /metrics into series → value (the series as the text format writes it,
// name{labels}).
func scrape(t *testing.T, url string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(httpGet(t, url+"/metrics")))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// compact serve exposes, after real work over both transports, the ingest's latency by
// transport and its append round trip, the rate limit's refusals of the ingest, the HTTP
// requests by route and code, the checkpointer's state, and the Go and process collectors.
func TestServeMetrics(t *testing.T) {
	bin := compactBinary(t)
	dir := t.TempDir()
	pub := addEntityCLI(t, bin, dir, "UNODC", "publisher")
	aud := addEntityCLI(t, bin, dir, "OIOS", "auditor")
	// one request a second per token, bursts of two
	c := serveChild(t, bin, dir, "--rate-limit", "1", "--role", "ingest")

	if o, seq := publishHTTP(c.httpURL, pub.Token, "m-1"); o != acked || seq != 1 {
		t.Fatalf("HTTP publish: outcome %v seq %d", o, seq)
	}
	nc := connectAs(t, c.natsURL, pub)
	defer nc.Close()
	if o, seq := publishNATSAs(nc, "UNODC", "m-2"); o != acked || seq != 2 {
		t.Fatalf("NATS publish: outcome %v seq %d", o, seq)
	}
	limited := 0
	for i := 0; limited == 0 && i < 100; i++ {
		req, _ := http.NewRequest("POST", c.httpURL+"/v1/events", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+pub.Token)
		req.Header.Set("Content-Type", "application/cloudevents+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("no request refused with 429 at one a second")
	}
	// A proof of seq 2 has the checkpointer sign the stream as it is.
	req, _ := http.NewRequest("GET", c.httpURL+"/v1/proofs?seq=2", nil)
	req.Header.Set("Authorization", "Bearer "+aud.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v1/proofs?seq=2: %d", resp.StatusCode)
	}
	// every response, whatever handler wrote it, is to be taken as its Content-Type says
	if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("GET /v1/proofs: X-Content-Type-Options %q, want nosniff", got)
	}

	m := scrape(t, c.httpURL)
	atLeast := map[string]float64{
		`compact_ingest_request_duration_seconds_count{transport="http"}`:      1,
		`compact_ingest_request_duration_seconds_count{transport="nats"}`:      1,
		`compact_ingest_append_duration_seconds_count{result="ok"}`:            2,
		`compact_http_requests_total{code="201",route="POST /v1/events"}`:      1,
		`compact_http_request_duration_seconds_count{route="POST /v1/events"}`: 2,
		`compact_checkpointer_signed_timestamp_seconds`:                        1,
		`go_goroutines`:                 1,
		`process_resident_memory_bytes`: 1,
	}
	for series, min := range atLeast {
		if v, ok := m[series]; !ok || v < min {
			t.Errorf("%s = %v (present %v), want at least %v", series, v, ok, min)
		}
	}
	exactly := map[string]float64{
		`compact_ingest_rejected_total{reason="rate_limited"}`:            float64(limited),
		`compact_http_requests_total{code="429",route="POST /v1/events"}`: float64(limited),
		`compact_http_requests_total{code="200",route="GET /v1/proofs"}`:  1,
		`compact_checkpointer_up`:                                         1,
		`compact_checkpointer_signed_tree_size`:                           2,
		`compact_checkpointer_folded_tree_size`:                           2,
		`compact_checkpointer_lag_events`:                                 0,
	}
	for series, want := range exactly {
		if v, ok := m[series]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", series, v, ok, want)
		}
	}
	if t.Failed() {
		var names []string
		for s := range m {
			if strings.HasPrefix(s, "compact_") {
				names = append(names, fmt.Sprintf("%s %v", s, m[s]))
			}
		}
		t.Logf("compact_ series:\n%s", strings.Join(names, "\n"))
	}
}

// Every metric the README's Metrics table lists is on GET /metrics of a new ledger (--role
// all) before anything happened, every label value the table names with it: a series that
// appears only with its first increment is missed by rate() and increase(), which need two
// samples (an alert on the first rejected event would not fire), and the table reads as
// wrong to whoever looks for the metric first.
func TestEveryDocumentedMetricIsThereFromTheStart(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(string(readme), "\n### Metrics\n")
	table, _, _ = strings.Cut(table, "\nExample alerts:")
	row := regexp.MustCompile("(?m)^\\| `(compact_[a-z_]+)` \\| [a-z]* \\| ([^|]*)\\|")
	label := regexp.MustCompile("^`([a-z_]+)`: (.*)$")
	value := regexp.MustCompile("`([a-z_]+)`")
	type want struct{ name, label string }
	var wants []want
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		if m[1] == "compact_view_lag_events" {
			continue // "as of its last batch": a new ledger has had none
		}
		l := label.FindStringSubmatch(strings.TrimSpace(m[2]))
		if l == nil {
			wants = append(wants, want{name: m[1]})
			continue
		}
		for _, v := range value.FindAllStringSubmatch(l[2], -1) {
			wants = append(wants, want{m[1], l[1] + `="` + v[1] + `"`})
		}
	}
	if len(wants) < 20 {
		t.Fatalf("read %d metrics from the README's table: is it still there?", len(wants))
	}

	bin := compactBinary(t)
	c := serveChild(t, bin, t.TempDir())
	text := httpGet(t, c.httpURL+"/metrics")
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "compact_") {
			lines = append(lines, l)
		}
	}
	for _, w := range wants {
		found := false
		for _, l := range lines {
			name, rest, _ := strings.Cut(l, " ")
			name, labels, _ := strings.Cut(name, "{")
			name = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			if name == w.name && strings.Contains(labels, w.label) && rest != "" {
				found = true
				break
			}
		}
		if !found {
			if w.label != "" {
				t.Errorf("%s{%s}: not on /metrics", w.name, w.label)
			} else {
				t.Errorf("%s: not on /metrics", w.name)
			}
		}
	}
	if t.Failed() {
		t.Logf("compact_ series:\n%s", strings.Join(lines, "\n"))
	}
}
