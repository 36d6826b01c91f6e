package main

// helpText is written by hand rather than by flag.PrintDefaults so flags can
// be grouped and explained with examples. A test checks it names every flag.
const helpText = `detectify-send posts Detectify webhook messages to a receiver, signed the way
Detectify signs them (X-Detectify-Signature: HMAC-SHA256 of the body), and
reports how the receiver answered.

Usage:
  detectify-send [flags]

Target:
  -url URL           receiver endpoint (default http://localhost:8765/webhook)
  -insecure          skip TLS certificate verification, for self-signed https

Signing:
  -secret SECRET     HMAC secret (default $DETECTIFY_WEBHOOK_SECRET; prefer the
                     variable, which keeps the secret out of shell history and
                     process listings)
  -encoding ENC      signature encoding: hex (default), HEX, base64, base64url
  -unsigned          send no signature, for receivers with allow_unsigned

Messages (pick one; -seed is the default):
  -format FORMAT     message shape for -seed, -scenario and -unique (-file is
                     sent as written): classic (default; flat, "type":
                     "event_finding_high", ...) or current ("event_type",
                     "timestamp", the subject in a nested object)
  -seed              the example messages: classic, Detectify's three
                     documented ones byte for byte; current, scan started, a
                     finding, scan completed and an asset change
  -scenario          one scan per domain: started, findings, finished
    -domains N|LIST  number of domains, or comma-separated names (default 3)
    -findings N      findings each scan finds, of every level (default 5)
    -titles K        distinct finding titles per scan, 1 to 32 (default 12);
                     a few titles make up most findings, as on real sites
    -unfinished N    the last N scans never finish: no finished message
                     (default 0)
  -unique N          N distinct findings, for load tests
  -file PATH         a JSON object or an array of objects, sent byte for byte
  -random-seed N     seed for -scenario and -unique; 0 picks one and prints it

  A scenario sends what Detectify would. Detectify withholds finding messages
  beyond 10 per finding title and 100 per scan, and sends none for low and
  information findings (classic webhooks have only high and medium finding
  events). The finished message still counts every finding the scan found, so
  a receiver can tell how many were withheld; the progress line says how many
  that is, per domain.

  A receiver treats an identical body seen again within minutes as a
  redelivery, so resending -seed, -file or a fixed -random-seed is not counted
  twice. -scenario and -unique with a fresh seed always are.

Delivery:
  -count N           total requests, cycling through the messages
                     (default 0: each message once)
  -rate R            requests per second, retries included (default 0: no limit)
  -concurrency N     parallel senders (default 1, which keeps messages in order)
  -retries N         retries of a message answered 429 or 503, or not answered (default 3)
  -max-backoff D     longest wait before a retry, Retry-After included
                     (default 30s)
  -timeout D         per-request timeout (default 10s)
  -gzip              compress bodies (Content-Encoding: gzip); the signature
                     still covers the uncompressed JSON

Fake Detectify API (for a receiver that fetches withheld findings):
  -api-fake ADDR     with -scenario, also serve Detectify's findings API on
                     ADDR (e.g. 127.0.0.1:8766; port 0 picks one) at
                     http://ADDR/rest/v2: GET /findings/PROFILE/?report_token=
                     REPORT lists every finding of the scan, withheld ones and
                     low and information ones included, under the uuids the
                     webhooks carried. Its URL is printed to stderr even with
                     -quiet. It keeps serving after the send until interrupted
                     or -api-linger ends
  -api-key KEY       the key requests must carry in X-Detectify-Key (default
                     $DETECTIFY_API_KEY, else the demo key
                     "detectify-send-demo-key")
  -api-secret SECRET the base64 secret requests must be signed with
                     (X-Detectify-Timestamp, X-Detectify-Signature; default
                     $DETECTIFY_API_SECRET; without one, the key alone is
                     checked)
  -api-linger D      serve for D after the send, then exit (default 0: until
                     interrupted)

  The fake keeps the API's assumptions visible: the profile token is the
  classic report URL's first segment and the current subjects'
  scan_profile_token, the report token is the scan id, a request's timestamp
  may be 5 minutes off. The key and secret are never printed.

Output:
  -quiet             print nothing unless something fails (and the fake
                     API's URL)

The summary goes to stdout, progress and errors to stderr.

Exit status:
  0  every message was delivered (2xx); -api-fake's serving does not change it
  1  a message failed, or the run was interrupted
  2  bad flags or input

Examples:
  # Detectify's examples to a local receiver
  DETECTIFY_WEBHOOK_SECRET=s3cret detectify-send

  # A scan of two named domains, 20 findings each, base64 signatures
  detectify-send -scenario -domains shop.example.com,api.example.com -findings 20 -encoding base64

  # Current-format scans that run into Detectify's limits; one never finishes
  detectify-send -format current -scenario -domains 4 -findings 300 -unfinished 1

  # Load test: 10000 distinct findings, 8 at a time, at most 500 per second
  detectify-send -unique 10000 -concurrency 8 -rate 500 -quiet

  # A hand-written message to an https receiver with a self-signed certificate
  detectify-send -file finding.json -url https://localhost:8765/webhook -insecure

  # A receiver configured with allow_unsigned
  detectify-send -unsigned -scenario

  # Scans over Detectify's limits, and the API a receiver fetches the
  # withheld findings from, until Ctrl-C
  DETECTIFY_API_SECRET=c2VjcmV0 detectify-send -scenario -findings 130 -api-fake 127.0.0.1:8766
`
