#!/usr/bin/env bash
# make mutate: breaks key lines of the receiver one at a time, runs the
# tests that hold them, and shows that each break is caught. A mutation
# that no test catches is a behaviour the README promises without proof.
# The work tree is restored after each mutation, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."

# One mutation per entry, fields separated by '§': file § text to replace §
# replacement § package § tests to run. An entry starts on a line that
# starts with a .go file and '§'; the text and its replacement may go on
# over the lines after it.
mutations=$(cat <<'LIST'
internal/state/journal.go§j.b.restore(snap.Start, state, now)§j.b.restore(now, state, now)§.§TestStateSurvivesARestartWithStorage
periodic.go§	r.state.Checkpoint()§	_ = 0§.§TestEveryIntervalWritesTheStateWhole
handler.go§ || mediaType == "text/plain"§§.§TestHTTPContract
handler.go§strings.HasSuffix(mediaType, "+json") || §§.§TestHTTPContract
handler.go§	if err := r.state.Sync(ctx); err != nil {
		return r.stateUnavailable(err)
	}
	switch {§	switch {§.§TestACrashAfterTheAnswerLosesNothing
handler.go§	if r.verifier != nil {§	if false {§.§TestHTTPContract
handler.go§		return r.refuse(req, answerUnreadable, err)§		return answer{http.StatusBadRequest, outcomeMalformed, err.Error()}§.§TestABodyReadFailureIsAnsweredWithoutItsError
answers.go§		w.Header().Set("Retry-After", retryAfterSeconds)§§.§TestHTTPContract
translate.go§"critical":      {plog.SeverityNumberFatal, "critical"}§"critical":      {plog.SeverityNumberError, "error"}§.§TestSeverities
translate.go§		lr.SetTimestamp(pcommon.NewTimestampFromTime(e.Timestamp))§		lr.SetTimestamp(observed)§.§TestRecordTimestamps
internal/message/event.go§categories = []Category{CategoryCritical, CategoryHigh, CategoryMedium}§categories = []Category{CategoryCritical, CategoryMedium}§./internal/state§TestMessagesWithoutScanIDBelongToTheDomainsOpenScan
internal/state/rules.go§if scan.ByTitle[title] == perTypeLimit {§if scan.ByTitle[title] == perTypeLimit+1 {§./internal/state§TestPerTypeLimitExactlyAtTen
internal/state/rules.go§if scan.Delivered == perScanLimit {§if scan.Delivered > perScanLimit {§./internal/state§TestPerScanLimitExactlyAtHundred
internal/state/rules.go§	if seen && !scan.Started.IsZero() {§	if seen {§./internal/state§TestScanWhoseStartWasNotSeenIsPartial
internal/state/rules.go§	scan.Stalled, scan.Closed = true, now§	scan.Closed = now§.§TestStalledScanIsReportedOnce
internal/state/counts.go§if len(c.domains) >= c.maxDomains && k.Domain != OverflowDomain {§if false {§.§TestMaxDomainsOverflow
internal/state/memory.go§			return Claim{Status: ClaimDuplicate}, nil§			return Claim{Status: ClaimNew}, nil§.§TestRedeliveryIsAcknowledgedNotEmittedTwice
internal/state/redis.go§return {'duplicate'}§return {'new'}§.§TestReplicasDeduplicateBetweenThem
shared.go§	if s.serving {
		return nil // joins the listener that serves already
	}§§.§TestListenerStartsOnceWhateverTheOrder
receiver.go§	r.cancelRun()
	var running []string§	var running []string§.§TestShutdownHonoursItsContext
handler.go§	if err := r.state.Healthy(ctx); err != nil {§	if err := error(nil); err != nil {§.§TestRedisUnavailable
LIST
)

python3 - "$mutations" <<'PY'
import os, re, shutil, subprocess, sys, tempfile

entries, cur = [], []
for line in sys.argv[1].split("\n"):
    if cur and re.match(r"[\w./-]+\.go\u00a7", line):
        entries.append("\n".join(cur))
        cur = []
    cur.append(line)
if cur:
    entries.append("\n".join(cur))

caught = survived = 0
for entry in entries:
    path, old, new, pkg, run = entry.split("\u00a7")
    text = open(path).read()
    if text.count(old) != 1:
        sys.exit(f"mutate: {path}: the text to break is not there exactly once: {old!r}")
    backup = tempfile.mktemp()
    shutil.copy(path, backup)
    try:
        open(path, "w").write(text.replace(old, new))
        result = subprocess.run(["go", "test", "-count=1", "-run", f"^({run})$", pkg],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finally:
        shutil.copy(backup, path)
        os.remove(backup)
    what = " ".join(old.split())[:70]
    if result.returncode == 0:
        survived += 1
        print(f"SURVIVED  {path}: {what}  (tests: {run})")
    else:
        caught += 1
        print(f"caught    {path}: {what}  (by {run})")
print(f"mutate: {caught} caught, {survived} survived")
sys.exit(1 if survived else 0)
PY
