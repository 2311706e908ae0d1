package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"

	"compact/projections"
)

func runRebuild(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rebuild", flag.ContinueOnError)
	var c clientFlags
	c.register(fs)
	noWait := fs.Bool("no-wait", false, "start the rebuild and return at once")
	view, err := parseWithOneArg(fs, args, "at most one VIEW (counters, review, structure; none rebuilds all)")
	if err != nil {
		return err
	}
	if view == "" {
		view = "all"
	}
	if view != "all" && !slices.Contains(projections.ViewNames, view) {
		return usagef("rebuild: no view %q: VIEW is one of %s (none rebuilds all)", view, strings.Join(projections.ViewNames, ", "))
	}
	path := "/v1/admin/rebuild/" + view
	if *noWait {
		path += "?wait=false"
	}
	resp, err := c.do(ctx, http.MethodPost, path, "", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusAccepted:
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("rebuild %s: %s: %s (an admin token is needed: --token or COMPACT_TOKEN)", view, resp.Status, serverError(resp.Body))
	default:
		return fmt.Errorf("rebuild %s: %s: %s", view, resp.Status, serverError(resp.Body))
	}
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}
