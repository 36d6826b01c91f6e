package detectifyreceiver

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
)

// fuzzSeeds are the seed messages plus shapes the parser must get right.
func fuzzSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{
		[]byte(`{}`), []byte(`[]`), []byte(`null`), []byte(`{"type":"event_finding_low","tags":["a",1]}`),
		[]byte(`{"type":"event_scan_finished","critical_findings":-1,"medium_findings":1e3,"notice_findings":"4"}`),
		[]byte(`{"finding_url":"https://detectify.com/report/a/b/c?x#y","report_url":"://"}`),
		[]byte("{\"title\":\"\u00a0\",\u00a0\"type\":\"x\"}"), []byte(`{"a":{"b":[[[{}]]]}}`), []byte(`{"type":"a","type":"b"}`),
	}
	for _, name := range seedMessages {
		seeds = append(seeds, readSeed(f, name))
	}
	return seeds
}

// FuzzParseWebhook: any body either fails to parse or becomes exactly one
// record whose body is the input and whose strings are valid UTF-8.
func FuzzParseWebhook(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	translator := newLogTranslator(receiverSettingsForTest(f), createDefaultConfig().logsBuilderConfig())
	f.Fuzz(func(t *testing.T, body []byte) {
		if !utf8.Valid(body) { // the handler refuses these before parsing
			return
		}
		input, text := bytes.Clone(body), string(body)
		w, err := parseWebhook(body, text)
		if err != nil {
			return
		}
		e := classify(&w)
		ld := translator.toLogs(e, text, testNow)
		if ld.LogRecordCount() != 1 {
			t.Fatalf("%d records for one webhook", ld.LogRecordCount())
		}
		lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0)
		if lr.Body().Str() != string(input) {
			t.Fatal("the body was not kept verbatim")
		}
		for k, v := range lr.Attributes().All() {
			if !utf8.ValidString(v.AsString()) {
				t.Fatalf("attribute %s is not valid UTF-8: %q", k, v.AsString())
			}
		}
		if e.kind == eventFinding && e.findingLevel == "" {
			t.Fatal("a finding without a level")
		}
	})
}

// FuzzHandler drives the whole server handler chain (decompression, limits,
// routing, signature, parsing) with healthy pipelines: no input may get a
// 5xx, and nothing is emitted unless the answer is 200.
func FuzzHandler(f *testing.F) {
	finding := readSeed(f, "finding_high")
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed, signBody(testSecret, seed), "", true)
	}
	f.Add(finding, "garbage", "", false)
	f.Add(gzipped(f, finding), signBody(testSecret, finding), "gzip", true)
	f.Add([]byte("\x1f\x8b\x08\x00"), "", "gzip", false)

	cfg := createDefaultConfig()
	cfg.Secret = testSecret
	cfg.DedupWindow = 0 // every input is processed, none answered from memory
	cfg.MaxRequestBodySize = 64 << 10
	r, err := newDetectifyReceiver(cfg, receiverSettingsForTest(f))
	if err != nil {
		f.Fatal(err)
	}
	logs, metrics := new(consumertest.LogsSink), new(consumertest.MetricsSink)
	r.logsConsumer, r.metricsConsumer = logs, metrics
	r.metrics = newMetricState(r.settings, cfg.metricsBuilderConfig(), time.Now())
	server, err := cfg.ToServer(context.Background(), nil, componenttest.NewNopTelemetrySettings(), r.routes())
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, body []byte, signature, encoding string, signRaw bool) {
		logs.Reset()
		metrics.Reset()
		req := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
		if signRaw { // sign what was sent, as a sender that compresses after signing would not
			signature = signBody(testSecret, body)
		}
		req.Header.Set(signatureHeader, signature)
		if encoding != "" {
			req.Header.Set("Content-Encoding", encoding)
		}
		rec := httptest.NewRecorder()
		server.Handler.ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("status %d for healthy pipelines: %s", rec.Code, rec.Body)
		}
		emitted := logs.LogRecordCount() + len(metrics.AllMetrics())
		if rec.Code != http.StatusOK && emitted != 0 {
			t.Fatalf("status %d but %d emitted", rec.Code, emitted)
		}
		if rec.Code == http.StatusOK && (logs.LogRecordCount() != 1 || len(metrics.AllMetrics()) > 1) {
			t.Fatalf("accepted but emitted %d records and %d metrics", logs.LogRecordCount(), len(metrics.AllMetrics()))
		}
	})
}

// FuzzNBSPToSpaces holds the quote-jumping spacesForNBSP to the plain
// byte-by-byte definition of what it must do.
func FuzzNBSPToSpaces(f *testing.F) {
	for _, seed := range []string{
		seedFindingHigh, seedScanFinished, "\u00a0{\"a\u00a0\":\u00a0\"\\\"\u00a0\\\\\"\u00a0}",
		`"\\\"` + "\u00a0", "\"\u00a0", "\xc2", "\xc2\"\xa0\"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want := nbspToSpacesByteByByte(body)
		got := bytes.Clone(body)
		spacesForNBSP(got)
		if !bytes.Equal(want, got) {
			t.Fatalf("spacesForNBSP(%q) = %q, want %q", body, got, want)
		}
	})
}

func nbspToSpacesByteByByte(body []byte) []byte {
	out := bytes.Clone(body)
	inString, escaped := false, false
	for i := 0; i < len(out); i++ {
		c := out[i]
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == 0xc2 && i+1 < len(out) && out[i+1] == 0xa0:
			out[i], out[i+1] = ' ', ' '
			i++
		}
	}
	return out
}
