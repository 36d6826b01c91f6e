// Package webhooksend generates, signs and delivers Detectify webhook
// messages. It is the engine behind the detectify-send CLI and the
// receiver's end-to-end tests: it produces the same JSON shapes Detectify
// sends, signs them with HMAC-SHA256 in the X-Detectify-Signature header and
// posts them with retries, rate limiting and concurrency so a receiver can be
// exercised the way production traffic would.
package webhooksend
