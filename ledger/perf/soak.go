package perf

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"compact/ledger"
)

// SoakOptions size a soak run.
type SoakOptions struct {
	Dir      string        // scratch directory. Required.
	Rate     int           // events per second, published open-loop (one event per request). Default 200.
	Duration time.Duration // how long to publish. Default 30s; bounded to 10 minutes.
}

// SoakReport is what a soak run saw.
type SoakReport struct {
	Rate            int     `json:"rate_per_s"`
	Seconds         float64 `json:"seconds"`
	Published       int     `json:"published"`
	Failed          int     `json:"failed"`
	LatencyP50Ms    float64 `json:"publish_latency_p50_ms"`
	LatencyP90Ms    float64 `json:"publish_latency_p90_ms"`
	LatencyP99Ms    float64 `json:"publish_latency_p99_ms"`
	LatencyMaxMs    float64 `json:"publish_latency_max_ms"`
	ViewLagMax      uint64  `json:"view_lag_max_events"`
	ViewLagMean     float64 `json:"view_lag_mean_events"`
	Replays         int     `json:"replays"`
	ReplayedEvents  int     `json:"replayed_events"`
	Queries         int     `json:"queries"`
	QueryP99Ms      float64 `json:"query_p99_ms"`
	PeakRSSMB       float64 `json:"peak_rss_mb"`
	FinalStreamSeq  uint64  `json:"final_stream_seq"`
	FinalViewsEqual bool    `json:"final_views_caught_up"`
}

// Soak publishes at a fixed rate through the ingest service while an auditor replays the
// whole history over HTTP in a loop and a reader queries the review and the counters, and
// reports publish latency percentiles, view lag and peak memory. It stops by itself.
func Soak(ctx context.Context, o SoakOptions) (*SoakReport, error) {
	if o.Dir == "" {
		return nil, errors.New("perf: SoakOptions.Dir is required")
	}
	if o.Rate <= 0 {
		o.Rate = 200
	}
	if o.Duration <= 0 {
		o.Duration = 30 * time.Second
	}
	o.Duration = min(o.Duration, 10*time.Minute)
	rg, err := newRig(ctx, filepath.Join(o.Dir, "soak"), 16, true)
	if err != nil {
		return nil, err
	}
	defer rg.Close()
	node, views, srv, conns, aud := rg.node, rg.views, rg.srv, rg.conns, rg.aud

	rep := &SoakReport{Rate: o.Rate}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		mu        sync.Mutex
		latencies []time.Duration
		queryLat  []time.Duration
		failed    atomic.Int64
		wg        sync.WaitGroup
	)
	// Open loop: a publish starts every 1/rate whether or not earlier ones are answered.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(o.Rate))
		defer tick.Stop()
		var inflight sync.WaitGroup
		defer inflight.Wait()
		for i := 0; ; i++ {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			inflight.Add(1)
			go func(i int) {
				defer inflight.Done()
				start := time.Now()
				msg, err := conns[i%len(conns)].RequestWithContext(ctx, "compact.ingest.UNODC", Event("UNODC", "soak-"+strconv.Itoa(i)))
				if err == nil {
					err = replyError(msg.Data, 1)
				}
				if err != nil {
					failed.Add(1)
					return
				}
				d := time.Since(start)
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			}(i)
		}
	}()
	// An auditor replays everything, again and again.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for runCtx.Err() == nil {
			req, _ := http.NewRequestWithContext(runCtx, http.MethodGet, srv.URL+"/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+aud.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			n, _ := countLines(resp.Body)
			resp.Body.Close()
			mu.Lock()
			rep.Replays++
			rep.ReplayedEvents += n
			mu.Unlock()
		}
	}()
	// A reader queries the review and the counters.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; runCtx.Err() == nil; i++ {
			url := srv.URL + "/v1/reviews/2025-05"
			if i%2 == 1 {
				url = srv.URL + "/v1/counters?as_of=2025-06-30"
			}
			start := time.Now()
			resp, err := http.Get(url)
			if err != nil {
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			mu.Lock()
			queryLat = append(queryLat, time.Since(start))
			mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
	}()
	// Sample the views' lag.
	var lagSum float64
	var lagN int
	start := time.Now()
	sample := time.NewTicker(100 * time.Millisecond)
	for runCtx.Err() == nil {
		<-sample.C
		if st, err := views.Status(ctx); err == nil {
			for _, v := range st.Views {
				rep.ViewLagMax = max(rep.ViewLagMax, v.Lag)
				lagSum += float64(v.Lag)
				lagN++
			}
		}
	}
	sample.Stop()
	wg.Wait()
	rep.Seconds = time.Since(start).Seconds()
	if lagN > 0 {
		rep.ViewLagMean = lagSum / float64(lagN)
	}
	rep.Published, rep.Failed = len(latencies), int(failed.Load())
	slices.Sort(latencies)
	slices.Sort(queryLat)
	rep.LatencyP50Ms, rep.LatencyP90Ms, rep.LatencyP99Ms = pct(latencies, 50), pct(latencies, 90), pct(latencies, 99)
	if len(latencies) > 0 {
		rep.LatencyMaxMs = ms(latencies[len(latencies)-1])
	}
	rep.Queries, rep.QueryP99Ms = len(queryLat), pct(queryLat, 99)
	st, _ := node.JS.Stream(ctx, ledger.StreamName)
	if info, err := st.Info(ctx); err == nil {
		rep.FinalStreamSeq = info.State.LastSeq
		wctx, c := context.WithTimeout(ctx, 30*time.Second)
		rep.FinalViewsEqual = views.WaitFor(wctx, info.State.LastSeq) == nil
		c()
	}
	rep.PeakRSSMB = peakRSSMB()
	return rep, nil
}

// pct is the p-th percentile of the sorted ds by the nearest rank, in ms: the smallest sample
// that at least p% of the samples do not exceed (p99 of 100 samples is the 99th, not the
// largest).
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	rank := (len(ds)*p + 99) / 100 // ⌈n·p/100⌉
	return ms(ds[min(len(ds), max(rank, 1))-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		for _, b := range buf[:k] {
			if b == '\n' {
				n++
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (r *SoakReport) String() string {
	return fmt.Sprintf("soak: %d events/s for %.0fs: %d published, %d failed; publish latency p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms; view lag max %d, mean %.1f events; %d replays (%d events); %d queries, p99 %.1f ms; peak RSS %.0f MiB; views caught up at the end: %v",
		r.Rate, r.Seconds, r.Published, r.Failed, r.LatencyP50Ms, r.LatencyP90Ms, r.LatencyP99Ms, r.LatencyMaxMs,
		r.ViewLagMax, r.ViewLagMean, r.Replays, r.ReplayedEvents, r.Queries, r.QueryP99Ms, r.PeakRSSMB, r.FinalViewsEqual)
}
