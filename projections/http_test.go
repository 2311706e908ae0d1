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
	// A date that is not one is a mistake in a parameter: the error names it, as every other
	// refused parameter's does (it used to come with an empty field).
	for _, path := range []string{"/v1/counters?as_of=2025-02-29", "/v1/structure?as_of=2025-02-29", "/v1/counters?as_of=%202025-06-30", "/v1/structure?as_of=10000-01-01"} {
		var e struct {
			Error struct{ Field, Message string }
		}
		if code := get(path, &e); code != 400 || e.Error.Field != "as_of" || !strings.Contains(e.Error.Message, "as_of") {
			t.Errorf("%s: %d %+v, want 400 naming as_of", path, code, e)
		}
	}
	var s Structure
	if code := get("/v1/structure?as_of=2025-12-31", &s); code != 200 || s.AsOf != "2025-12-31" {
		t.Errorf("structure: %d %+v", code, s)
	}
	var st Status
	if code := get("/v1/status", &st); code != 200 || st.StreamLastSeq != last || len(st.Views) != 3 {
		t.Errorf("status: %d %+v", code, st)
	}
	if guarded != 8 {
		t.Errorf("the guard wrapped %d of 8 public reads", guarded)
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
	direct, _ := v.Quarantine(t.Context(), ViewReview, 0, 0)
	if len(q) != len(direct) || len(q) == 0 {
		t.Errorf("quarantine over HTTP has %d entries, directly %d", len(q), len(direct))
	}

	// A page at a time: following the Link headers from ?limit=2 reads every entry once, in
	// order, and the last page names no next.
	if len(direct) < 3 {
		t.Fatalf("the history quarantined %d events in the review: paging needs at least 3", len(direct))
	}
	var paged []QuarantineEntry
	pages := 0
	for next := "/v1/admin/quarantine/review?limit=2"; next != ""; pages++ {
		req, _ := http.NewRequest("GET", srv.URL+next, nil)
		req.Header.Set("Authorization", "Bearer admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page []QuarantineEntry
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != 200 || len(page) == 0 || len(page) > 2 {
			t.Fatalf("GET %s: %d, %d entries, %v", next, resp.StatusCode, len(page), err)
		}
		resp.Body.Close()
		paged = append(paged, page...)
		next = ""
		if link := resp.Header.Get("Link"); link != "" {
			u, rel, ok := strings.Cut(link, ">; ")
			if !ok || rel != `rel="next"` || !strings.HasPrefix(u, "<") {
				t.Fatalf("Link header %q", link)
			}
			next = u[1:]
		}
		if pages > len(direct) {
			t.Fatal("the pages do not end")
		}
	}
	if pages != (len(direct)+1)/2 || len(paged) != len(direct) {
		t.Errorf("%d pages of %d entries, want %d of %d", pages, len(paged), (len(direct)+1)/2, len(direct))
	}
	for i := range paged {
		if paged[i] != direct[i] {
			t.Errorf("entry %d: paged %+v, directly %+v", i, paged[i], direct[i])
		}
	}
	for _, bad := range []struct{ query, field string }{
		{"after_seq=-1", "after_seq"}, {"after_seq=x", "after_seq"},
		{"limit=0", "limit"}, {"limit=10001", "limit"}, {"limit=two", "limit"},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/v1/admin/quarantine/review?"+bad.query, nil)
		req.Header.Set("Authorization", "Bearer admin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Field, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || resp.StatusCode != 400 || e.Error.Field != bad.field {
			t.Errorf("?%s: %d %+v, want a 400 naming %s", bad.query, resp.StatusCode, e, bad.field)
		}
		resp.Body.Close()
	}
	if last, _ := v.Quarantine(t.Context(), ViewReview, direct[len(direct)-1].Seq, 0); len(last) != 0 {
		t.Errorf("after the last entry: %d more", len(last))
	}
	if rest, _ := v.Quarantine(t.Context(), ViewReview, direct[0].Seq, 1); len(rest) != 1 || rest[0] != direct[1] {
		t.Errorf("one after the first: %+v, want %+v", rest, direct[1])
	}
}
