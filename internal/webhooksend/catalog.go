package webhooksend

// vulnerability is one finding type a generated scan can find. Detectify's
// per-type limit counts finding messages by title.
type vulnerability struct {
	title       string
	level       level
	path        string // where on the site it is found
	parameter   string // the query parameter it is found in
	description string
	remediation string
}

// MaxTitles is the number of distinct finding titles a scenario can use.
const MaxTitles = len(catalog)

// catalog holds realistic vulnerability types of every level, most of them
// of the levels Detectify sends messages for, so a scan with many findings
// runs into both of its sender limits.
var catalog = [...]vulnerability{
	{"SQL Injection", critical, "/api/users", "id",
		"SQL injection detected in the id parameter", "Use parameterized queries."},
	{"Remote Code Execution (RCE)", critical, "/admin/ping", "host",
		"Operating system commands can be injected through the host parameter", "Never pass user input to a shell; use an allow-list."},
	{"Server-Side Template Injection (SSTI)", critical, "/greeting", "name",
		"Template expressions in the name parameter are evaluated on the server", "Render user input as data, never as a template."},
	{"XML External Entity (XXE) Injection", critical, "/api/import", "format",
		"The XML parser resolves external entities in uploaded documents", "Disable DTDs and external entity resolution."},
	{"Exposed Environment File (.env)", critical, "/.env", "v",
		"The application's .env file, with credentials, is publicly readable", "Keep configuration files outside the web root."},
	{"Stored Cross-site Scripting (XSS)", high, "/comments", "body",
		"Script in the body parameter is stored and served to other users", "Encode output for its context and set a Content-Security-Policy."},
	{"Reflected Cross-site Scripting (XSS)", high, "/search", "q",
		"Script in the q parameter is reflected into the page", "Encode output for its context."},
	{"Server-Side Request Forgery (SSRF)", high, "/api/fetch", "url",
		"The server fetches arbitrary URLs given in the url parameter", "Allow-list the hosts the server may fetch from."},
	{"Path Traversal", high, "/download", "file",
		"Files outside the download directory can be read through the file parameter", "Resolve paths and reject any outside the allowed directory."},
	{"Local File Inclusion (LFI)", high, "/index.php", "page",
		"Local files can be included through the page parameter", "Map page names to files with an allow-list."},
	{"Insecure Direct Object Reference (IDOR)", high, "/api/orders", "order_id",
		"Other users' orders can be read by changing the order_id parameter", "Check authorization for every object requested."},
	{"Exposed Git Repository (.git)", high, "/.git/config", "ref",
		"The site's Git repository is publicly readable", "Block access to .git directories."},
	{"Subdomain Takeover", high, "/", "src",
		"A DNS record points at an unclaimed third-party service", "Remove dangling DNS records."},
	{"Unauthenticated Admin Panel", high, "/admin", "tab",
		"The admin panel is reachable without logging in", "Require authentication for every admin route."},
	{"Login Cross Site Request Forgery (CSRF/XSRF)", medium, "/login", "csrf_token",
		"The login form accepts requests without a valid csrf_token", "Require an unpredictable token on state-changing requests."},
	{"Open Redirect", medium, "/logout", "next",
		"The next parameter redirects to any external site", "Redirect only to relative paths or allow-listed hosts."},
	{"DOM-based Cross-site Scripting (XSS)", medium, "/app", "hash",
		"Client-side script writes the hash parameter into the page", "Use safe DOM APIs such as textContent."},
	{"Cross-Origin Resource Sharing (CORS) Misconfiguration", medium, "/api/profile", "callback",
		"Any origin may read authenticated API responses", "Allow only trusted origins and never reflect the Origin header."},
	{"Clickjacking", medium, "/settings", "section",
		"Pages can be framed by other sites", "Send X-Frame-Options or a frame-ancestors directive."},
	{"Host Header Injection", medium, "/password-reset", "email",
		"Password reset links are built from the Host header", "Build absolute links from configuration, not request headers."},
	{"CRLF Injection", medium, "/lang", "lang",
		"Line breaks in the lang parameter are written into response headers", "Reject control characters in header values."},
	{"Session Cookie without Secure Flag", medium, "/login", "session",
		"The session cookie is also sent over plain HTTP", "Set the Secure flag on session cookies."},
	{"Vulnerable JavaScript Library (jQuery)", medium, "/static/js/app.js", "v",
		"A jQuery version with known vulnerabilities is loaded", "Upgrade the library."},
	{"Missing HTTP Strict Transport Security (HSTS)", low, "/", "utm_source",
		"The site does not send a Strict-Transport-Security header", "Send Strict-Transport-Security with a long max-age."},
	{"Cookie without HttpOnly Flag", low, "/", "ref",
		"A cookie is readable by client-side script", "Set the HttpOnly flag on cookies scripts do not need."},
	{"Missing Content-Security-Policy Header", low, "/", "page",
		"No Content-Security-Policy header is sent", "Send a restrictive Content-Security-Policy."},
	{"Autocomplete Enabled on Password Field", low, "/login", "redirect",
		"Browsers may store the password entered in the login form", "Set autocomplete=\"new-password\" or \"off\"."},
	{"Weak TLS Cipher Suites Supported", low, "/", "lang",
		"The server accepts TLS cipher suites considered weak", "Disable CBC-mode and export cipher suites."},
	{"Server Version Disclosure", information, "/", "q",
		"The Server header names the web server's version", "Remove version numbers from response headers."},
	{"Email Address Disclosure", information, "/contact", "topic",
		"Email addresses are published in the page source", "Use a contact form instead of plain addresses."},
	{"Technology Fingerprint: nginx", information, "/", "utm_campaign",
		"The site is served by nginx", "No action needed."},
	{"robots.txt Lists Hidden Paths", information, "/robots.txt", "v",
		"robots.txt names paths that are not linked from the site", "Protect sensitive paths by authentication, not obscurity."},
}
