// Package webhooksend generates, signs and delivers Detectify webhook
// messages. It is the engine behind the detectify-send CLI and the
// receiver's end-to-end tests: it produces the JSON shapes Detectify sends,
// in its classic and its current format, holds generated scans to
// Detectify's sender limits and says what they withhold, signs messages
// with HMAC-SHA256 in the X-Detectify-Signature header and posts them with
// retries, rate limiting and concurrency so a receiver can be exercised the
// way production traffic would. Example messages come from package seed,
// which holds the one copy of each.
package webhooksend
