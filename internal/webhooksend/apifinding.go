package webhooksend

import "time"

// apiFinding is a finding object as Detectify's v2 findings resource lists
// it, with the fields public clients read.
type apiFinding struct {
	UUID             string             `json:"uuid"`
	Title            string             `json:"title"`
	Severity         string             `json:"severity"`
	Status           string             `json:"status"`
	CreatedAt        string             `json:"created_at"`
	UpdatedAt        string             `json:"updated_at"`
	Asset            apiAsset           `json:"asset"`
	Location         string             `json:"location"`
	Tags             []apiTag           `json:"tags"`
	CVSSScores       map[string]apiCVSS `json:"cvss_scores"`
	Links            apiLinks           `json:"links"`
	ReportToken      string             `json:"report_token"`
	ScanProfileToken string             `json:"scan_profile_token"`
}

type apiAsset struct {
	Token string `json:"token"`
	Name  string `json:"name"`
}

type apiTag struct {
	Name string `json:"name"`
}

type apiCVSS struct {
	Score    float64 `json:"score"`
	Vector   string  `json:"vector"`
	Severity string  `json:"severity"`
}

type apiLinks struct {
	DetailsPage string `json:"details_page"`
}

// cvssVectors are representative CVSS 3.1 vectors of each level. The
// generated score is not computed from the vector; no client should.
var cvssVectors = map[string]string{
	"critical":    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
	"high":        "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:H/I:H/A:N",
	"medium":      "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:L/A:N",
	"low":         "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:N/A:N",
	"information": "CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:N/I:N/A:N",
}

// apiFindings lists a scan's findings as the API would. Every finding of a
// generated scan is new to it, so status and tag say "new".
func apiFindings(s ScanSummary) []apiFinding {
	out := make([]apiFinding, len(s.Findings))
	for i, f := range s.Findings {
		at := f.Found.UTC().Format(time.RFC3339)
		out[i] = apiFinding{
			UUID: f.UUID, Title: f.Title, Severity: f.Level, Status: "new",
			CreatedAt: at, UpdatedAt: at,
			Asset:    apiAsset{Token: s.AssetToken, Name: s.Domain},
			Location: f.Location,
			Tags:     []apiTag{{Name: "new"}},
			CVSSScores: map[string]apiCVSS{
				"cvss_3_1": {Score: f.CVSS, Vector: cvssVectors[f.Level], Severity: f.Level},
			},
			Links:            apiLinks{DetailsPage: "https://detectify.com/report/" + s.ProfileToken + "/" + s.ReportToken + "/" + f.UUID},
			ReportToken:      s.ReportToken,
			ScanProfileToken: s.ProfileToken,
		}
	}
	return out
}
