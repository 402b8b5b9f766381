package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// reporters file the incidents, in turn: council and board staff with
// different line managers (platform/directory/seed.json).
var reporters = []string{"hc-cso-1", "hc-cso-2", "hc-sup-1", "hc-tl-1", "vb-staff-1", "vb-staff-2", "vb-lm-1"}

type member struct {
	ID           string `json:"id"`
	Organization string `json:"organization"`
	Email        string `json:"email"`
	LineManager  string `json:"line_manager_id"`
}

// directory is the seeded staff directory by staff id.
type directory map[string]member

func loadDirectory(path string) (directory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var seed struct {
		Staff []member `json:"staff"`
	}
	if err := json.Unmarshal(b, &seed); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	d := directory{}
	for _, m := range seed.Staff {
		d[m.ID] = m
	}
	for _, r := range reporters {
		if _, err := d.manager(r); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// manager returns the line manager of a staff member: who is emailed when
// they report an ordinary incident (policy: incident.reported -> line_manager).
func (d directory) manager(id string) (member, error) {
	m, ok := d[id]
	if !ok {
		return member{}, fmt.Errorf("seed directory: no staff member %s", id)
	}
	lm, ok := d[m.LineManager]
	if !ok || lm.Email == "" {
		return member{}, fmt.Errorf("seed directory: %s has no line manager with an email", id)
	}
	return lm, nil
}

// report is one incident as the test filed it.
type report struct {
	Index     int
	Reporter  string
	Org       string
	Manager   string // email of the reporter's line manager
	RequestID string
	Reference string
	Name      string    // incidents/{id}
	Acked     time.Time // when the 200 arrived
	Retries   int       // after transport errors
	Failure   string    // set when it was not acknowledged with 200
}

var client = &http.Client{Timeout: 30 * time.Second}

type gateway struct{ base string }

// call sends a JSON request; err is a transport error (no HTTP answer).
func (g gateway) call(ctx context.Context, method, path, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, g.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, raw, nil
}

func (g gateway) token(ctx context.Context, staffID string) (string, error) {
	code, raw, err := g.call(ctx, http.MethodPost, "/dev/token", "", map[string]string{"staff_id": staffID})
	if err != nil {
		return "", err
	}
	var out struct {
		Token string `json:"token"`
	}
	if code != http.StatusOK || json.Unmarshal(raw, &out) != nil || out.Token == "" {
		return "", fmt.Errorf("POST /dev/token %s: %d %s", staffID, code, raw)
	}
	return out.Token, nil
}

// tokens returns a dev token for each staff id.
func (g gateway) tokens(ctx context.Context, ids ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, id := range ids {
		t, err := g.token(ctx, id)
		if err != nil {
			return nil, err
		}
		out[id] = t
	}
	return out, nil
}

// file reports one incident. Only a transport error (no HTTP answer) is
// retried, with the same requestId so incident-svc records it once; any
// HTTP answer but 200 is a failure of the test. The retries are bounded.
func (g gateway) file(ctx context.Context, token string, r *report) {
	body := map[string]any{
		"categories":  []string{"CATEGORY_ABUSE"},
		"channel":     "CHANNEL_PHONE",
		"occurTime":   time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
		"location":    "Phone line",
		"description": fmt.Sprintf("Fault test report %d: caller shouted at the officer.", r.Index),
	}
	// The REST mapping puts the incident in the body and the other fields
	// of CreateIncidentRequest in the query.
	path := "/v1/incidents?requestId=" + url.QueryEscape(r.RequestID)
	deadline := time.Now().Add(2 * time.Minute)
	pause := 250 * time.Millisecond
	for {
		code, raw, err := g.call(ctx, http.MethodPost, path, token, body)
		if err == nil {
			if code != http.StatusOK {
				r.Failure = fmt.Sprintf("HTTP %d: %s", code, strings.TrimSpace(string(raw)))
				return
			}
			var inc struct {
				Name      string `json:"name"`
				Reference string `json:"reference"`
			}
			if err := json.Unmarshal(raw, &inc); err != nil || inc.Reference == "" {
				r.Failure = fmt.Sprintf("200 without a reference: %s", raw)
				return
			}
			r.Reference, r.Name, r.Acked = inc.Reference, inc.Name, time.Now()
			return
		}
		if ctx.Err() != nil {
			r.Failure = "interrupted"
			return
		}
		if time.Now().After(deadline) {
			r.Failure = fmt.Sprintf("no answer after %d retries: %v", r.Retries, err)
			return
		}
		r.Retries++
		select {
		case <-ctx.Done():
		case <-time.After(pause):
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// fileAll reports n incidents with the given number of workers; done
// counts the reports answered so far (for the fault schedule).
func (g gateway) fileAll(ctx context.Context, d directory, tokens map[string]string, n, workers int, done *atomic.Int64) []*report {
	run := randomHex(4)
	reports := make([]*report, n)
	for i := range reports {
		who := reporters[i%len(reporters)]
		lm, _ := d.manager(who)
		reports[i] = &report{Index: i + 1, Reporter: who, Org: d[who].Organization, Manager: strings.ToLower(lm.Email),
			RequestID: fmt.Sprintf("faulttest-%s-%04d", run, i+1)}
	}
	jobs := make(chan *report)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for r := range jobs {
				g.file(ctx, tokens[r.Reporter], r)
				done.Add(1)
			}
		})
	}
	for _, r := range reports {
		if ctx.Err() != nil {
			break
		}
		jobs <- r
	}
	close(jobs)
	wg.Wait()
	return reports
}

// delivery is the part of a notify-svc delivery record the test prints.
type delivery struct {
	Name           string `json:"name"`
	Reference      string `json:"reference"`
	RecipientEmail string `json:"recipientEmail"`
	Status         string `json:"status"`
	Attempts       int    `json:"attempts"`
	LastError      string `json:"lastError"`
	MessageID      string `json:"messageId"`
}

// deliveries lists delivery records through the gateway (as an admin of
// the organisation); query is e.g. "status=DELIVERY_STATUS_DEAD".
func (g gateway) deliveries(ctx context.Context, adminToken, query string) ([]delivery, error) {
	var all []delivery
	page := ""
	for range 100 {
		path := "/v1/deliveries?pageSize=500&" + query
		if page != "" {
			path += "&pageToken=" + url.QueryEscape(page)
		}
		code, raw, err := g.call(ctx, http.MethodGet, path, adminToken, nil)
		if err != nil {
			return nil, err
		}
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %s", path, code, raw)
		}
		var out struct {
			Deliveries    []delivery `json:"deliveries"`
			NextPageToken string     `json:"nextPageToken"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return nil, err
		}
		all = append(all, out.Deliveries...)
		if out.NextPageToken == "" {
			return all, nil
		}
		page = out.NextPageToken
	}
	return nil, errors.New("too many pages of deliveries")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
