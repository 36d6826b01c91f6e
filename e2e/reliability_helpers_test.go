package e2e

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Helpers of the reliability tests (overload, restart, soak, burst): the
// collector's resource usage read from /proc, signed posts, and findings
// unique to a domain and an id.

// procStats is what /proc tells about a process at one moment.
type procStats struct {
	at      time.Time
	rss     int64         // resident set, bytes
	threads int           // OS threads
	cpu     time.Duration // user + system time so far
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times; 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func readProcStats(pid int) (procStats, error) {
	s := procStats{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for line := range strings.Lines(string(status)) {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		switch key {
		case "VmRSS": // in kB
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return s, fmt.Errorf("VmRSS: %w", err)
			}
			s.rss = kb << 10
		case "Threads":
			if s.threads, err = strconv.Atoi(fields[0]); err != nil {
				return s, fmt.Errorf("Threads: %w", err)
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name, in parentheses, may hold spaces: fields are
	// counted from the last ')'. utime and stime are fields 14 and 15.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(rest) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, f := range rest[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	s.cpu = time.Duration(ticks) * time.Second / clockTicks
	return s, nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// postSigned posts one webhook signed with e2eSecret and returns the status
// and the body of the answer.
func postSigned(url string, body []byte) (int, string, error) {
	return postSignedWith(url, body, nil)
}

// postSignedWith is postSigned that hands the answer's header to header.
func postSignedWith(url string, body []byte, header func(http.Header)) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	mac := hmac.New(sha256.New, []byte(e2eSecret))
	mac.Write(body)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Detectify-Signature", hex.EncodeToString(mac.Sum(nil)))
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if header != nil {
		header(resp.Header)
	}
	answer, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(answer)), err
}

// mustPost posts body and fails the test unless the answer is 200 with the
// given status ("accepted" or "duplicate").
func mustPost(t *testing.T, url string, body []byte, want string) {
	t.Helper()
	status, answer, err := postSigned(url, body)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	if wantBody := `{"status":"` + want + `"}`; status != http.StatusOK || answer != wantBody {
		t.Fatalf("POST %s: %d %s, want 200 %s", url, status, answer, wantBody)
	}
}

// findingBody is a finding webhook unique to (domain, id), in Detectify's
// shape. Each domain's findings belong to a scan of its own (its id is the
// domain name), as Detectify's scan ids are unique: the receiver opens that
// scan with the domain's first finding, so the domain also has the scan
// series detectify_scans_open and detectify_scans_total{state="stalled"}.
func findingBody(domain string, id int) []byte {
	return fmt.Appendf(nil, `{"type":"event_finding_high","domain":%q,"severity":"high","cvss_score":7.5,`+
		`"title":"Reflected Cross-site Scripting (XSS)","report_url":"https://detectify.com/report/e2e/%s",`+
		`"finding_url":"https://detectify.com/report/e2e/%s/f%07d"}`, domain, domain, domain, id)
}

// countFileRecords reads the JSON lines the file exporter wrote to path
// and counts the log records by body.
func countFileRecords(path string) (map[[sha256.Size]byte]int, int, error) {
	records, err := readRecords(path)
	if err != nil {
		return nil, 0, err
	}
	bodies := make(map[[sha256.Size]byte]int, len(records))
	for _, r := range records {
		bodies[sha256.Sum256([]byte(r.Body().AsString()))]++
	}
	return bodies, len(records), nil
}
