package message

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanObjectFollowsJSONGrammar(t *testing.T) {
	deep := strings.Repeat(`{"a":`, maxDepth) + "1" + strings.Repeat("}", maxDepth)
	tooDeep := strings.Repeat(`{"a":`, maxDepth+1) + "1" + strings.Repeat("}", maxDepth+1)
	tests := []struct {
		body  string
		valid bool
	}{
		{`{}`, true},
		{" \t\r\n{ } \n", true},
		{`{"a":1,"b":-0.5e+3,"c":0,"d":1E9,"e":-0}`, true},
		{`{"a":"x\"\\\/\b\f\n\r\tyé\u00e9\uD83D\uDE00"}`, true},
		{`{"a":[],"b":[1,"2",{"c":[true,false,null]}],"c":{}}`, true},
		{`{"a":1,"a":2}`, true}, // the grammar allows it; the readers decide
		{deep, true},

		{``, false},
		{`[]`, false},
		{`"a"`, false},
		{`{`, false},
		{`{"a"}`, false},
		{`{"a":}`, false},
		{`{"a":1,}`, false},
		{`{,"a":1}`, false},
		{`{"a":1 "b":2}`, false},
		{`{a:1}`, false},
		{`{'a':1}`, false},
		{`{"a":1}}`, false},
		{`{"a":1}x`, false},
		{`{"a":1}{}`, false},
		{`{"a":[1,]}`, false},
		{`{"a":[1 2]}`, false},
		{`{"a":[}`, false},
		{`{"a":01}`, false},
		{`{"a":1.}`, false},
		{`{"a":.5}`, false},
		{`{"a":1e}`, false},
		{`{"a":+1}`, false},
		{`{"a":-}`, false},
		{`{"a":0x1}`, false},
		{`{"a":NaN}`, false},
		{`{"a":Infinity}`, false},
		{`{"a":tru}`, false},
		{`{"a":nul}`, false},
		{`{"a":True}`, false},
		{`{"a":"x`, false},
		{`{"a":"\x"}`, false},
		{`{"a":"\u12"}`, false},
		{`{"a":"\u12g4"}`, false},
		{"{\"a\":\"tab\there\"}", false},
		{"{\"a\":\"nl\nhere\"}", false},
		{"{\"a\":1}\x00", false},
		{`{"a":1}` + "\u00a0", false}, // Parse turns these into spaces first
		{tooDeep, false},
	}
	for _, tt := range tests {
		t.Run(tt.body[:min(len(tt.body), 40)], func(t *testing.T) {
			_, err := scanObject([]byte(tt.body), nil)
			assert.Equal(t, tt.valid, err == nil, "scan error: %v", err)
			if len(tt.body) < 1000 { // the deep ones: encoding/json's depth bound is larger
				assert.Equal(t, tt.valid, json.Valid([]byte(tt.body)) && firstToken([]byte(tt.body)) == '{',
					"encoding/json disagrees")
			}
		})
	}
}

func TestScanObjectNotesTheTopLevelMembers(t *testing.T) {
	body := []byte(`{ "type" : "event_finding_high", "n":-1.5e3,"o":{"type":"inner"},"a":[1,{"b":2}],` +
		`"esc":"a\"b", "t\u0079pe2":null ,"b":true}`)
	members, err := scanObject(body, nil)
	require.NoError(t, err)
	type seen struct {
		key, value string
		kind       valueKind
		plain      bool
		keyEscaped bool
	}
	var got []seen
	for _, m := range members {
		got = append(got, seen{string(m.key), string(m.value), m.kind, m.plain, m.keyEscaped})
	}
	assert.Equal(t, []seen{
		{"type", `"event_finding_high"`, kindString, true, false},
		{"n", `-1.5e3`, kindNumber, false, false},
		{"o", `{"type":"inner"}`, kindObject, false, false},
		{"a", `[1,{"b":2}]`, kindArray, false, false},
		{"esc", `"a\"b"`, kindString, false, false},
		{`"t\u0079pe2"`, `null`, kindLiteral, false, true},
		{"b", `true`, kindLiteral, false, false},
	}, got)
	assert.Equal(t, "event_finding_high", members[0].text())
}

// FuzzScanObject: the scan accepts exactly what encoding/json calls valid
// with an object at the top, whatever the bytes.
func FuzzScanObject(f *testing.F) {
	for _, body := range goldenInputs(f) {
		f.Add(body)
	}
	for _, s := range []string{`{}`, `{"a":[1,{"b":"c\u0041"}],"d":-0.1e-2}`, `{"a":01}`, `{"a":"\q"}`, "{\"a\":\"\x01\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte("{"))+bytes.Count(body, []byte("[")) > maxDepth {
			return // past the scan's depth bound, below encoding/json's
		}
		_, err := scanObject(body, nil)
		want := json.Valid(body) && firstToken(body) == '{'
		if (err == nil) != want {
			t.Fatalf("scan error %v, encoding/json valid object %v", err, want)
		}
	})
}
