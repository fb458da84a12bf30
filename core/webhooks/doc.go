// Package webhooks sends Leadhub's outbound webhooks: Standard Webhooks
// signatures (see package standardwebhooks), an HTTP client that refuses private network
// targets (SSRF), and the worker that delivers queued events, logs every
// attempt and decides on retries.
package webhooks
