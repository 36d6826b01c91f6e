package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// promAlertSink stands in for the webhook Alertmanager notifies: an HTTP
// server on 127.0.0.1 that keeps every notification it receives.
type promAlertSink struct {
	srv  *httptest.Server
	path string

	mu       sync.Mutex
	messages []promWebhookMessage
	problems []string // requests that were not a well-formed notification
}

// promWebhookMessage is Alertmanager's webhook payload (version 4).
type promWebhookMessage struct {
	Version      string            `json:"version"`
	Status       string            `json:"status"`
	Receiver     string            `json:"receiver"`
	GroupLabels  map[string]string `json:"groupLabels"`
	CommonLabels map[string]string `json:"commonLabels"`
	Alerts       []promAlert       `json:"alerts"`
}

type promAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
}

func newPromAlertSink(t *testing.T, path string) *promAlertSink {
	t.Helper()
	s := &promAlertSink{path: path}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve)) // listens on 127.0.0.1
	t.Cleanup(func() {
		s.srv.Close()
		if t.Failed() {
			t.Logf("alert sink received:\n%s", s.describe())
		}
	})
	return s
}

// URL is where Alertmanager must post.
func (s *promAlertSink) URL() string { return s.srv.URL + s.path }

func (s *promAlertSink) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	s.mu.Lock()
	defer s.mu.Unlock()
	var msg promWebhookMessage
	switch {
	case r.Method != http.MethodPost || r.URL.Path != s.path:
		s.problems = append(s.problems, fmt.Sprintf("%s %s", r.Method, r.URL.Path))
		http.Error(w, "not the alert webhook", http.StatusNotFound)
		return
	case err != nil:
		s.problems = append(s.problems, "reading body: "+err.Error())
	case json.Unmarshal(body, &msg) != nil:
		s.problems = append(s.problems, "not JSON: "+string(body))
	default:
		s.messages = append(s.messages, msg)
	}
	w.WriteHeader(http.StatusOK)
}

// firing returns the first firing alert with the given name whose labels
// include want.
func (s *promAlertSink) firing(name string, want map[string]string) (promAlert, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.messages {
		for _, a := range m.Alerts {
			if a.Status != "firing" || a.Labels["alertname"] != name {
				continue
			}
			match := true
			for k, v := range want {
				if a.Labels[k] != v {
					match = false
				}
			}
			if match {
				return a, true
			}
		}
	}
	return promAlert{}, false
}

// all returns every alert received so far.
func (s *promAlertSink) all() []promAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []promAlert
	for _, m := range s.messages {
		out = append(out, m.Alerts...)
	}
	return out
}

func (s *promAlertSink) describe() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for i, m := range s.messages {
		fmt.Fprintf(&b, "notification %d: status=%s receiver=%s group=%v\n", i, m.Status, m.Receiver, m.GroupLabels)
		for _, a := range m.Alerts {
			fmt.Fprintf(&b, "  %s %v %v\n", a.Status, a.Labels, a.Annotations)
		}
	}
	for _, p := range s.problems {
		fmt.Fprintf(&b, "bad request: %s\n", p)
	}
	if b.Len() == 0 {
		return "nothing"
	}
	return b.String()
}
