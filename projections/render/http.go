package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"compact/ledger"
	"compact/projections"
)

// Source is where the handlers read reviews from: the review view (or a replica, or a build
// as known at a time).
type Source interface {
	// Review returns the review of a period (already checked with CheckPeriod). An error
	// wrapping ErrNotFound or projections.ErrBadPeriod is answered 404.
	Review(ctx context.Context, period string) (*projections.Review, error)
	// Periods returns the periods that have a review, in any order.
	Periods(ctx context.Context) ([]string, error)
}

// The formats of GET /v1/reviews/{period}.
const (
	FormatJSON     = "json"
	FormatMarkdown = "md"
	FormatHTML     = "html"
)

// contentTypes are the media types served per format.
var contentTypes = map[string]string{
	FormatJSON:     "application/json",
	FormatMarkdown: "text/markdown; charset=utf-8",
	FormatHTML:     "text/html; charset=utf-8",
}

// renderers write a review in a format.
var renderers = map[string]func(io.Writer, *projections.Review) error{
	FormatJSON: JSON, FormatMarkdown: Markdown, FormatHTML: HTML,
}

// pageCSP allows what the pages use (inline style, in-page anchors, links out) and nothing else:
// the pages must read the same with every external fetch and every script blocked.
const pageCSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Routes registers GET /v1/reviews/{period} (?format=json, the default, md or html, or by the
// Accept header), GET /reviews/{period} (the HTML page) and GET / (the home page, which lists
// the reviews). The pages' addresses with a trailing slash, and /reviews itself, redirect to
// them: people type and edit these addresses. guard wraps every handler (nil: public).
func Routes(mux *http.ServeMux, src Source, guard func(http.Handler) http.Handler) {
	if guard == nil {
		guard = func(h http.Handler) http.Handler { return h }
	}
	h := &handlers{src: src}
	mux.Handle("GET /v1/reviews/{period}", guard(ledger.Params(http.HandlerFunc(h.apiReview), "format")))
	mux.Handle("GET /reviews/{period}", guard(http.HandlerFunc(h.pageReview)))
	mux.Handle("GET /reviews/{period}/{$}", guard(http.HandlerFunc(pageSlash)))
	mux.Handle("GET /reviews/{$}", guard(http.HandlerFunc(toHome)))
	mux.Handle("GET /reviews", guard(http.HandlerFunc(toHome)))
	mux.Handle("GET /{$}", guard(http.HandlerFunc(h.index)))
}

// pageSlash sends /reviews/{period}/ to the page. The period is escaped again, so that the
// Location stays a path on this site whatever it holds (a period of "/evil.example" would
// otherwise make "//evil.example", another site).
func pageSlash(w http.ResponseWriter, r *http.Request) {
	redirect(w, r, "/reviews/"+url.PathEscape(r.PathValue("period")))
}

// toHome sends /reviews and /reviews/ to the home page, which lists the reviews.
func toHome(w http.ResponseWriter, r *http.Request) { redirect(w, r, "/") }

func redirect(w http.ResponseWriter, r *http.Request, path string) {
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	http.Redirect(w, r, path, http.StatusMovedPermanently)
}

type handlers struct {
	src Source
}

func (h *handlers) apiReview(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept")
	format, err := chooseFormat(r)
	if err != nil {
		writeJSONError(w, http.StatusBadRequest, "format", err.Error())
		return
	}
	period := r.PathValue("period")
	rev, status, err := h.review(r.Context(), period)
	if err != nil {
		writeJSONError(w, status, "period", err.Error())
		return
	}
	var b bytes.Buffer
	if err := renderers[format](&b, rev); err != nil {
		writeJSONError(w, http.StatusInternalServerError, "", fmt.Sprintf("rendering the review of %s as %s: %v", period, format, err))
		return
	}
	writeBody(w, format, b.Bytes())
}

func (h *handlers) pageReview(w http.ResponseWriter, r *http.Request) {
	period := r.PathValue("period")
	rev, status, err := h.review(r.Context(), period)
	if err != nil {
		writeHTMLError(w, status, err.Error())
		return
	}
	var b bytes.Buffer
	if err := HTML(&b, rev); err != nil {
		writeHTMLError(w, http.StatusInternalServerError, fmt.Sprintf("rendering the review of %s: %v", period, err))
		return
	}
	writeBody(w, FormatHTML, b.Bytes())
}

func (h *handlers) index(w http.ResponseWriter, r *http.Request) {
	periods, err := h.src.Periods(r.Context())
	if err != nil {
		writeHTMLError(w, http.StatusInternalServerError, "listing the review periods: "+err.Error())
		return
	}
	var b bytes.Buffer
	if err := Index(&b, periods); err != nil {
		writeHTMLError(w, http.StatusInternalServerError, "rendering the home page: "+err.Error())
		return
	}
	writeBody(w, FormatHTML, b.Bytes())
}

// review checks the period and reads its review, returning the HTTP status for an error.
func (h *handlers) review(ctx context.Context, period string) (*projections.Review, int, error) {
	if err := CheckPeriod(period); err != nil {
		return nil, http.StatusNotFound, err
	}
	rev, err := h.src.Review(ctx, period)
	switch {
	case err == nil && rev == nil:
		return nil, http.StatusNotFound, fmt.Errorf("no review of %s (%s)", period, periodLabel(period))
	case err == nil:
		return rev, http.StatusOK, nil
	case errors.Is(err, ErrNotFound), errors.Is(err, projections.ErrBadPeriod):
		return nil, http.StatusNotFound, err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, http.StatusServiceUnavailable, fmt.Errorf("reading the review of %s: %w", period, err)
	default:
		return nil, http.StatusInternalServerError, fmt.Errorf("reading the review of %s: %w", period, err)
	}
}

// chooseFormat takes ?format= when given, else the Accept header's preferred type among the
// three, else JSON.
func chooseFormat(r *http.Request) (string, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		switch strings.ToLower(f) {
		case "json":
			return FormatJSON, nil
		case "md", "markdown":
			return FormatMarkdown, nil
		case "html":
			return FormatHTML, nil
		}
		return "", fmt.Errorf("format %q: must be json (the default), md or html", f)
	}
	best, bestQ := FormatJSON, 0.0
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil {
				q = v
			}
		}
		var f string
		switch mt {
		case "application/json", "application/*", "*/*":
			f = FormatJSON
		case "text/markdown", "text/x-markdown", "text/plain":
			f = FormatMarkdown
		case "text/html", "application/xhtml+xml":
			f = FormatHTML
		default:
			continue
		}
		// Strictly greater: on a tie the type listed first wins.
		if q > bestQ {
			best, bestQ = f, q
		}
	}
	return best, nil
}

func writeBody(w http.ResponseWriter, format string, body []byte) {
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypes[format])
	hdr.Set("X-Content-Type-Options", "nosniff")
	if format == FormatHTML {
		hdr.Set("Content-Security-Policy", pageCSP)
	}
	hdr.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// writeJSONError writes {"error": {"field": ..., "message": ...}}, the API's error shape.
func writeJSONError(w http.ResponseWriter, status int, field, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"field": field, "message": message}})
}

func writeHTMLError(w http.ResponseWriter, status int, message string) {
	var b bytes.Buffer
	if err := errorPage(&b, fmt.Sprintf("%d %s", status, http.StatusText(status)), message); err != nil {
		http.Error(w, message, status)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", pageCSP)
	w.WriteHeader(status)
	w.Write(b.Bytes())
}
