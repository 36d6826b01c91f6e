// Package detectifyapi reads a scan's findings from Detectify's public REST
// API (v2), for the receiver's backfill of what the webhooks withheld.
//
// Nobody here has seen the API answer: what this package relies on comes
// from Detectify's public API examples (shared/seed/detectify-api.md) and
// every assumption beyond them is marked ASSUMPTION where it is made:
//   - GET {endpoint}/findings/{scan profile token}/?report_token={report}
//     lists the report's findings (the parameter is an assumption; the
//     answer is also filtered here by each finding's report_token, so an
//     API that ignores it still gives the report's findings);
//   - the answer is a JSON array of finding objects, or (an assumption) an
//     object with a findings array and a next link;
//   - a request is authenticated by X-Detectify-Key and, for keys with a
//     secret, signed as Detectify's examples sign it (sign.go).
package detectifyapi // import "github.com/detectify-otel/detectifyreceiver/internal/detectifyapi"
