// Package sdk is the Go SDK for Leadhub plugins.
//
// A plugin is a separate program that Leadhub starts and talks to over gRPC
// (hashicorp/go-plugin). A plugin declares what it does in its Description
// and implements the matching interfaces:
//
//   - Enricher: returns a Patch of lead fields, attributes and tags;
//   - DuplicateDetector: returns Candidates, leads that may be the same person;
//   - EventSink: receives batches of Events, at least once.
//
// Plugins embed Base for no-op defaults and call Serve from main. The host
// API (HostAPI) lets a plugin look up leads of the event's project; it is
// handed to the plugin in Configure.
//
// Package sdktest runs a plugin in-process over the real gRPC path, without
// building a binary.
//
// The same package holds what the Leadhub host uses to be a go-plugin client
// (Handshake, ClientPlugins, GRPCDialOptions, Client), so that both sides share
// one definition of the protocol. Protocol v1 only ever grows; a breaking
// change becomes protocol v2, negotiated through go-plugin's VersionedPlugins.
package sdk
