package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// admins read the delivery records of their organisation.
var admins = map[string]string{"highland-council": "hc-admin-1", "valuation-board": "vb-admin-1"}

// test reports the incidents (with the faults unless quiet), waits for the
// emails and prints the comparison. It reports whether the test passed.
func (e *env) test(ctx context.Context, o options, dir directory) (bool, error) {
	g := gateway{base: e.cfg.GatewayURL()}
	ids := append([]string(nil), reporters...)
	for _, a := range admins {
		ids = append(ids, a)
	}
	tokens, err := g.tokens(ctx, ids...)
	if err != nil {
		return false, err
	}

	fmt.Println()
	say("reporting %d incidents through %s (%d workers, reporters %s)", o.n, g.base, o.workers, strings.Join(reporters, ", "))
	var done atomic.Int64
	c := clock{t0: time.Now()}
	f := &faults{e: e, clock: c, done: &done, n: o.n, sinkDown: o.sinkDown}
	faultsDone := make(chan struct{})
	fctx, cancelFaults := context.WithCancel(ctx)
	defer func() {
		// Ends the schedule (and the mail sink's timer) before the
		// processes are stopped, so nothing is restarted after that.
		cancelFaults()
		<-faultsDone
	}()
	if o.quiet {
		close(faultsDone)
	} else {
		go func() {
			defer close(faultsDone)
			f.run(fctx)
		}()
	}
	c.say(0, "first report sent")
	reports := g.fileAll(ctx, dir, tokens, o.n, o.workers, &done)
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	var lastAck time.Time
	var failed []*report
	retried := 0
	expected := map[key]bool{}
	byRef := map[string]*report{}
	for _, r := range reports {
		retried += min(r.Retries, 1)
		if r.Failure != "" {
			failed = append(failed, r)
			continue
		}
		expected[key{r.Reference, r.Manager}] = true
		byRef[r.Reference] = r
		if r.Acked.After(lastAck) {
			lastAck = r.Acked
		}
	}
	reportTime := lastAck.Sub(c.t0)
	c.say(done.Load(), "all reports answered: %d acknowledged with 200, %d not", len(reports)-len(failed), len(failed))
	for i, r := range failed {
		if i == 10 {
			fmt.Printf("             ... and %d more\n", len(failed)-10)
			break
		}
		fmt.Printf("             report %d by %s: %s\n", r.Index, r.Reporter, r.Failure)
	}

	// The mail sink must be back before the wait starts.
	select {
	case <-faultsDone:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	c.say(done.Load(), "fault schedule complete; waiting up to %s for %d expected emails", o.wait, len(expected))

	// Wait until every expected email is in the sink, then a little longer
	// so that a late resend or duplicate is seen too.
	var t tally
	deadline := time.Now().Add(o.wait)
	lastProgress := time.Now()
	for {
		if msgs, ok := e.messages(); ok {
			t = compare(expected, msgs)
			if len(t.Missing) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			c.say(done.Load(), "gave up waiting: %d of %d expected emails missing", len(t.Missing), t.Expected)
			break
		}
		if time.Since(lastProgress) >= 10*time.Second {
			c.say(done.Load(), "%d of %d expected emails in the sink", t.Received, t.Expected)
			lastProgress = time.Now()
		}
		if !sleep(ctx, 500*time.Millisecond) {
			return false, ctx.Err()
		}
	}
	if len(t.Missing) == 0 {
		c.say(done.Load(), "every expected email is in the sink (the last arrived at %.1fs)", t.Last.Sub(c.t0).Seconds())
		settle := 10 * time.Second
		if o.quiet {
			settle = 3 * time.Second
		}
		t = e.settle(ctx, expected, settle)
		c.say(done.Load(), "no new message for %s; counting", settle)
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}

	// What notify-svc itself says about the deliveries.
	notSent := map[string]int{}
	var apiErr error
	for org, admin := range admins {
		for _, st := range []string{"QUEUED", "FAILED", "DEAD"} {
			list, err := g.deliveries(ctx, tokens[admin], "status=DELIVERY_STATUS_"+st)
			if err != nil {
				apiErr = fmt.Errorf("%s: %w", org, err)
				continue
			}
			notSent[strings.ToLower(st)] += len(list)
		}
	}

	kills := int(f.kills.Load())
	pass := true
	var why []string
	check := func(ok bool, reason string) {
		if !ok {
			pass = false
			why = append(why, reason)
		}
	}
	check(len(failed) == 0, fmt.Sprintf("%d reports not acknowledged with 200", len(failed)))
	check(len(t.Missing) == 0, fmt.Sprintf("%d expected emails missing", len(t.Missing)))
	check(len(t.Duplicates) == 0, fmt.Sprintf("%d (incident, recipient) pairs with more than one Message-ID", len(t.Duplicates)))
	check(t.Repeats <= kills, fmt.Sprintf("%d resends with the same Message-ID, more than the %d SIGKILLs", t.Repeats, kills))
	check(len(t.Unexpected) == 0, fmt.Sprintf("%d emails that match no expected (incident, recipient)", len(t.Unexpected)))
	e.exitMu.Lock()
	check(len(e.unexpected) == 0, "processes exited on their own: "+strings.Join(e.unexpected, ", "))
	e.exitMu.Unlock()
	f.mu.Lock()
	for _, err := range f.errs {
		check(false, "fault step failed: "+err.Error())
	}
	f.mu.Unlock()

	// The summary.
	fmt.Println()
	if o.quiet {
		fmt.Println("==== notifications: quiet run (no faults)")
	} else {
		fmt.Println("==== notifications fault test")
		fmt.Printf("  faults: %d SIGKILLs of notify-svc (each restarted 2 s later), mail sink stopped %s, redis-server killed and restarted empty once\n", kills, o.sinkDown)
	}
	p := func(label string, v any, note string) { fmt.Printf("  %-38s %6v  %s\n", label, v, note) }
	p("incidents reported", len(reports), fmt.Sprintf("(%d acknowledged with 200; %d needed a retry after a transport error)", len(reports)-len(failed), retried))
	p("expected emails", t.Expected, "(one per incident, to the reporter's line manager, keyed (reference, recipient))")
	p("received", t.Received, "(expected keys with an email in the sink)")
	p("missing", len(t.Missing), "")
	p("distinct duplicates", len(t.Duplicates), "(one key, two or more different Message-IDs)")
	allowed := fmt.Sprintf("(allowed up to %d, one per SIGKILL of notify-svc)", kills)
	if o.quiet {
		allowed = "(allowed 0: nothing is killed in a quiet run)"
	}
	p("resent after a crash, same Message-ID", t.Repeats, allowed)
	p("unexpected emails", len(t.Unexpected), "(no expected (reference, recipient))")
	p("messages in the sink", t.Messages, "")
	if apiErr != nil {
		p("delivery records not sent", "?", "(could not list them: "+apiErr.Error()+")")
	} else {
		p("delivery records not sent", notSent["queued"]+notSent["failed"]+notSent["dead"],
			fmt.Sprintf("(notify-svc API: queued %d, failed %d, dead %d)", notSent["queued"], notSent["failed"], notSent["dead"]))
	}
	if len(t.Missing) == 0 && t.Expected > 0 {
		total := t.Last.Sub(c.t0)
		fmt.Println()
		fmt.Printf("  throughput: %d events -> %d emails delivered in %.1f s (first report to last expected email) = %.1f emails/s\n",
			len(reports)-len(failed), t.Expected, total.Seconds(), float64(t.Expected)/total.Seconds())
		fmt.Printf("              reporting alone: %d reports acknowledged in %.1f s = %.1f reports/s\n",
			len(reports)-len(failed), reportTime.Seconds(), float64(len(reports)-len(failed))/reportTime.Seconds())
		fmt.Printf("              report acknowledged -> email in the sink: %s\n", latencies(t, byRef))
		after := 0
		for _, n := range t.Counts {
			if n.First.After(lastAck) {
				after++
			}
		}
		if d := t.Last.Sub(lastAck); after > 0 && d > 0 {
			fmt.Printf("              after the last report: %d emails in %.1f s = %.1f emails/s (the backlog drained)\n", after, d.Seconds(), float64(after)/d.Seconds())
		}
	}
	republished := e.printLogCounts(c)
	if at := f.redisAt.Load(); at != 0 {
		killed := time.Unix(0, at)
		var first time.Time
		for _, r := range republished {
			if r.After(killed) {
				first = r
				break
			}
		}
		if first.IsZero() {
			fmt.Printf("    incident-svc's relay did not re-publish after the Redis restart (at %.1fs)\n", killed.Sub(c.t0).Seconds())
		} else {
			// Events that were in Redis but not yet consumed when it lost
			// its data come back only with the re-publish (ADR 0001).
			waited := 0
			for _, r := range reports {
				if n := t.Counts[key{r.Reference, r.Manager}]; n != nil && r.Acked.Before(killed) && n.First.After(first) {
					waited++
				}
			}
			fmt.Printf("    Redis restart (%.1fs) -> relay re-publish (%.1fs): %.1f s; emails of earlier incidents that waited for it: %d\n",
				killed.Sub(c.t0).Seconds(), first.Sub(c.t0).Seconds(), first.Sub(killed).Seconds(), waited)
		}
	}
	if o.keep {
		e.writeCSV(c, t, reports)
	}
	printDetails(ctx, g, tokens, t, byRef)

	fmt.Println()
	if pass {
		fmt.Println("RESULT: PASS")
	} else {
		fmt.Println("RESULT: FAIL")
		for _, w := range why {
			fmt.Println("  - " + w)
		}
	}
	return pass, nil
}

// settle polls the sink until no new message has arrived for quiet (at
// most a minute) and returns the final tally.
func (e *env) settle(ctx context.Context, expected map[key]bool, quiet time.Duration) tally {
	var t tally
	last, since := -1, time.Now()
	for end := time.Now().Add(time.Minute); time.Now().Before(end); {
		if msgs, ok := e.messages(); ok {
			if len(msgs) != last {
				last, since = len(msgs), time.Now()
			}
			t = compare(expected, msgs)
			if time.Since(since) >= quiet {
				break
			}
		}
		if !sleep(ctx, 500*time.Millisecond) {
			break
		}
	}
	return t
}

func latencies(t tally, byRef map[string]*report) string {
	var ds []time.Duration
	for k, c := range t.Counts {
		if r := byRef[k.Ref]; r != nil {
			ds = append(ds, c.First.Sub(r.Acked))
		}
	}
	if len(ds) == 0 {
		return "n/a"
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) string {
		return fmt.Sprintf("%.1f s", ds[min(int(p*float64(len(ds))), len(ds)-1)].Seconds())
	}
	return fmt.Sprintf("p50 %s, p95 %s, max %s", q(0.50), q(0.95), q(1))
}

// logLines are the log messages worth counting, by process.
var logLines = []struct{ proc, msg string }{
	{"notify-svc", "email sent"},
	{"notify-svc", "email not sent, will retry"},
	{"notify-svc", "email dead-lettered"},
	{"notify-svc", "email sent but its status could not be recorded"},
	{"notify-svc", "event handler failed, will retry"},
	{"notify-svc", "consumer cannot"},
	{"notify-svc", "sender cannot reach redis"},
	{"incident-svc", "redis stream was empty: re-publishing recent events"},
	{"incident-svc", "relay cannot reach redis"},
	{"incident-svc", "relay publish failed"},
	{"incident-svc", "relay epoch check failed"},
}

// printLogCounts counts the interesting lines of the processes' log.
// It returns when incident-svc's relay re-published events.
func (e *env) printLogCounts(c clock) (republishedAt []time.Time) {
	f, err := os.Open(e.logPath)
	if err != nil {
		return nil
	}
	defer f.Close()
	counts := make([]int, len(logLines))
	var republished []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for i, l := range logLines {
			if !strings.HasPrefix(line, "["+l.proc+"] ") {
				continue
			}
			var rec struct {
				Time   time.Time `json:"time"`
				Msg    string    `json:"msg"`
				Events int       `json:"events"`
			}
			if json.Unmarshal([]byte(strings.TrimPrefix(line, "["+l.proc+"] ")), &rec) != nil {
				continue
			}
			if rec.Msg == l.msg || strings.HasPrefix(l.msg, "consumer cannot") && strings.HasPrefix(rec.Msg, l.msg) {
				counts[i]++
				if rec.Events > 0 {
					republished = append(republished, fmt.Sprintf("%d at %.1fs", rec.Events, rec.Time.Sub(c.t0).Seconds()))
					republishedAt = append(republishedAt, rec.Time)
				}
			}
		}
	}
	fmt.Println()
	fmt.Println("  from the processes' logs:")
	for i, l := range logLines {
		if counts[i] == 0 {
			continue
		}
		extra := ""
		if l.msg == "redis stream was empty: re-publishing recent events" {
			extra = fmt.Sprintf(" (events re-published: %s)", strings.Join(republished, ", "))
		}
		fmt.Printf("    %-14s %-55q %5d%s\n", l.proc, l.msg, counts[i], extra)
	}
	return republishedAt
}

// writeCSV writes, next to the kept log, one line per incident: when it was
// acknowledged and when its email arrived (seconds after the first report).
func (e *env) writeCSV(c clock, t tally, reports []*report) {
	f, err := os.CreateTemp("", "cg-faulttest-*.csv")
	if err != nil {
		return
	}
	defer f.Close()
	w := csv.NewWriter(f)
	_ = w.Write([]string{"index", "incident", "reference", "reporter", "recipient", "acked_s", "first_email_s", "messages", "message_ids"})
	for _, r := range reports {
		row := []string{fmt.Sprint(r.Index), r.Name, r.Reference, r.Reporter, r.Manager, "", "", "0", "0"}
		if !r.Acked.IsZero() {
			row[5] = fmt.Sprintf("%.3f", r.Acked.Sub(c.t0).Seconds())
		}
		if n := t.Counts[key{r.Reference, r.Manager}]; n != nil {
			row[6] = fmt.Sprintf("%.3f", n.First.Sub(c.t0).Seconds())
			row[7], row[8] = fmt.Sprint(n.Messages), fmt.Sprint(len(n.IDs))
		}
		_ = w.Write(row)
	}
	w.Flush()
	say("per-incident timings in %s", f.Name())
}

// printDetails names what went wrong: the missing keys with what notify-svc
// recorded for them, the duplicates and the resends.
func printDetails(ctx context.Context, g gateway, tokens map[string]string, t tally, byRef map[string]*report) {
	if len(t.Missing) > 0 {
		fmt.Println()
		fmt.Println("  missing emails (first 10) and notify-svc's delivery records for them:")
		for i, k := range t.Missing {
			if i == 10 {
				break
			}
			r := byRef[k.Ref]
			fmt.Printf("    %s to %s (report %d by %s, acknowledged at %s)\n", k.Ref, k.To, r.Index, r.Reporter, r.Acked.Format(time.RFC3339Nano))
			list, err := g.deliveries(ctx, tokens[admins[r.Org]], "reference="+url.QueryEscape(k.Ref))
			switch {
			case err != nil:
				fmt.Printf("      cannot list deliveries: %v\n", err)
			case len(list) == 0:
				fmt.Println("      no delivery record: notify-svc never handled the event")
			}
			for _, d := range list {
				fmt.Printf("      %s to %s: %s after %d attempts; %s\n", d.Name, d.RecipientEmail, d.Status, d.Attempts, d.LastError)
			}
		}
	}
	show := func(title string, ks []key) {
		if len(ks) == 0 {
			return
		}
		fmt.Println()
		fmt.Println("  " + title + ":")
		for _, k := range ks {
			c := t.Counts[k]
			var ids []string
			for id, n := range c.IDs {
				ids = append(ids, fmt.Sprintf("%s x%d", id, n))
			}
			sort.Strings(ids)
			fmt.Printf("    %s to %s: %s\n", k.Ref, k.To, strings.Join(ids, ", "))
		}
	}
	show("distinct duplicates (different Message-IDs)", t.Duplicates)
	show("resent after a crash, same Message-ID", t.RepeatKeys)
	if len(t.Unexpected) > 0 {
		fmt.Println()
		fmt.Println("  unexpected emails (first 10):")
		for i, m := range t.Unexpected {
			if i == 10 {
				break
			}
			fmt.Printf("    %s to %v: %q\n", m.MessageID, m.To, m.Subject)
		}
	}
}
