package message

import "strings"

// reportIDs extracts the ids of a Detectify report URL,
// https://detectify.com/report/<token>/<scan>[/<finding>]: the token (taken
// to be the scan profile's, see detectify-api.md), the scan (the report
// token) and the finding. ok is false when the URL does not have that shape
// or a segment is not a plain identifier.
func reportIDs(rawURL string) (profile, scanID, findingID string, ok bool) {
	scheme, rest, found := strings.Cut(rawURL, "://")
	if !found || scheme == "" {
		return "", "", "", false
	}
	// Two byte searches: IndexAny scans a URL's length byte by byte.
	rest, _, _ = strings.Cut(rest, "#")
	rest, _, _ = strings.Cut(rest, "?")
	_, path, found := strings.Cut(rest, "/") // drop the host
	if !found {
		return "", "", "", false
	}
	path, found = strings.CutPrefix(path, "report/")
	if !found {
		return "", "", "", false
	}
	// token, scan[, finding]: a fourth segment leaves a "/" in the
	// finding, which is then no identifier.
	var hasFinding bool
	profile, rest, _ = strings.Cut(strings.TrimSuffix(path, "/"), "/")
	scanID, findingID, hasFinding = strings.Cut(rest, "/")
	if !isIdentifier(profile) || !isIdentifier(scanID) || hasFinding && !isIdentifier(findingID) {
		return "", "", "", false
	}
	return profile, scanID, findingID, true
}

// isIdentifier accepts a non-empty run of URL-unreserved characters.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !unreserved[s[i]] {
			return false
		}
	}
	return true
}

// unreserved marks the URL-unreserved bytes (RFC 3986): a table, since a
// finding URL's three ids are a hundred bytes checked on every webhook.
var unreserved = func() (set [256]bool) {
	for c := range set {
		set[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
	}
	return set
}()
