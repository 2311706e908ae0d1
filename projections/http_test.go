package projections

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHTTP(t *testing.T) {
	h := newHarness(t)
	v := h.open(h.config(t.TempDir()))
	g := newHistGen(4)
	history := g.take(200)
	last := h.publish(history...)
	h.wait(v, last)

	guarded := 0
	mux := http.NewServeMux()
	v.Routes(mux, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			guarded++
			next.ServeHTTP(w, r)
		})
	})
	v.AdminRoutes(mux, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer admin" {
				http.Error(w, "forbidden", http.StatusForbidden)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string, into any) int {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if into != nil {
			if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		return resp.StatusCode
	}
	var c Counters
	if code := get("/v1/counters?as_of=2025-06-30", &c); code != 200 {
		t.Fatalf("counters: %d", code)
	}
	want := naiveCounters(history, "2025-06-30")
	want.Seq = last
	if c != want {
		t.Errorf("GET /v1/counters = %+v, want %+v", c, want)
	}
	// Errors have the API's one shape, {"error": {"field", "message"}}: these used to answer
	// {"error": "..."}, which the CLI printed raw ("400 Bad Request: {\"error\":...}").
	var e struct {
		Error struct{ Field, Message *string }
	}
	if code := get("/v1/counters?as_of=2025-02-30", &e); code != 400 || e.Error.Field == nil || e.Error.Message == nil || !strings.Contains(*e.Error.Message, "2025-02-30") {
		t.Errorf("a bad date: %d %+v", code, e)
	}
	var s Structure
	if code := get("/v1/structure?as_of=2025-12-31", &s); code != 200 || s.AsOf != "2025-12-31" {
		t.Errorf("structure: %d %+v", code, s)
	}
	var st Status
	if code := get("/v1/status", &st); code != 200 || st.StreamLastSeq != last || len(st.Views) != 3 {
		t.Errorf("status: %d %+v", code, st)
	}
	if guarded != 4 {
		t.Errorf("the guard wrapped %d of 4 public reads", guarded)
	}

	post := func(path, token string) int {
		req, _ := http.NewRequest("POST", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("/v1/admin/rebuild/counters", ""); code != http.StatusForbidden {
		t.Errorf("rebuild without the admin token: %d", code)
	}
	if code := post("/v1/admin/rebuild/nope", "admin"); code != http.StatusNotFound {
		t.Errorf("rebuild of an unknown view: %d", code)
	}
	gen0 := st.Views[0].Generation
	if code := post("/v1/admin/rebuild/counters", "admin"); code != 200 {
		t.Errorf("rebuild: %d", code)
	}
	get("/v1/status", &st)
	if st.Views[0].Generation == gen0 {
		t.Error("the rebuild did not swap a new generation in")
	}
	if code := post("/v1/admin/rebuild/all?wait=false", "admin"); code != http.StatusAccepted {
		t.Errorf("rebuild all without waiting: %d", code)
	}
	if err := v.Rebuild(t.Context(), ""); err != nil { // joins the running rebuilds
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/admin/quarantine/review", nil)
	req.Header.Set("Authorization", "Bearer admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var q []QuarantineEntry
	if err := json.NewDecoder(resp.Body).Decode(&q); err != nil || resp.StatusCode != 200 {
		t.Errorf("quarantine: %d %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	direct, _ := v.Quarantine(t.Context(), ViewReview)
	if len(q) != len(direct) || len(q) == 0 {
		t.Errorf("quarantine over HTTP has %d entries, directly %d", len(q), len(direct))
	}
}
